"""Folder watching: a saved timeline gets its sidecars, with nothing to click.

files (is it a timeline, is it complete, `process` for it), settle (the debounce queue), watcher
(observers, worker, supervisor), store (the watched folders and their saved list), registry (what
the daemon holds: `create_watcher` and the Watch, Unwatch and ListWatches calls).
"""

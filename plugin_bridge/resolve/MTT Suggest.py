"""mttd suggestions for the current DaVinci Resolve timeline (Workspace > Scripts > MTT Suggest).

Exports the timeline as FCP 7 XML to a temporary folder, asks the mttd daemon through
`mtt-bridge`, adds every review suggestion as a timeline marker (the reason in its note) and
offers to import the suggested timeline NAME.mtt.xml. Install: copy this file and the
`mtt_resolve` folder into Resolve's Fusion/Scripts/Edit folder (see plugin_bridge/PLUGINS.md).
Resolve runs scripts in its own Python: only the standard library is used here.
"""

import os
import sys

LIBRARY_ENV = "MTT_RESOLVE_LIB"  # a folder holding mtt_resolve/, for installs that keep it elsewhere


def user_script_folders():
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support", "Blackmagic Design", "DaVinci Resolve",
                            "Fusion", "Scripts")
    elif sys.platform == "win32":
        base = os.path.join(os.environ.get("APPDATA", ""), "Blackmagic Design", "DaVinci Resolve", "Support",
                            "Fusion", "Scripts")
    else:
        base = os.path.join(home, ".local", "share", "DaVinciResolve", "Fusion", "Scripts")
    return [os.path.join(base, page) for page in ("Edit", "Utility")]


def library_folder():
    here = [os.path.dirname(os.path.abspath(__file__))] if "__file__" in globals() else []
    for folder in [os.environ.get(LIBRARY_ENV, "")] + here + user_script_folders():
        if folder and os.path.isfile(os.path.join(folder, "mtt_resolve", "logic.py")):
            return folder
    raise SystemExit("mtt: the mtt_resolve folder was not found next to this script; see plugin_bridge/PLUGINS.md")


def resolve_app():
    """Resolve hands menu scripts `resolve` (and `bmd` for dialogs); run from outside, connect."""
    app = globals().get("resolve")
    if app is not None:
        return app, globals().get("bmd")
    import DaVinciResolveScript

    return DaVinciResolveScript.scriptapp("Resolve"), None


def main():
    sys.path.insert(0, library_folder())
    from mtt_resolve import bridge_client, host, logic, suggested

    app, bmd = resolve_app()
    if app is None:
        raise SystemExit("mtt: DaVinci Resolve is not running (or external scripting is off in its preferences)")

    def ask(summary):
        if bmd is None:  # no dialogs outside Resolve's menu: import only when asked on the command line
            print(summary)
            return "--import" in sys.argv
        return host.ask_with_dialog(app, bmd, summary)

    def make_suggested(export, folder):  # with the model the daemon runs, so both agree
        model = suggested.daemon_model(bridge_client.status())
        return suggested.write_suggested_timeline(export, folder, model)

    outcome = logic.run(host.ResolveHost(app), bridge_client.suggest_file, make_suggested, ask)
    print(outcome.message)
    return outcome


# Resolve's menu may run the file under another module name; it always provides `resolve` then.
if __name__ == "__main__" or globals().get("resolve") is not None:
    main()

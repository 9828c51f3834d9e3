"""Daemon settings: built-in defaults, then the TOML config file, then `MTTD_<NAME>` variables.

Each effective value remembers where it came from, which `mttd config show` prints. Top-level
keys are settings; the `[watch]` table holds the folder watcher's settings (WatchSettings). A bad
key or table is refused at load time (by `mttd config show` and by `mttd serve`, which then does
not start) rather than ignored later.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from daemon.errors import MttdError
from daemon.paths import Paths
from model.inference.model_files import BACKENDS


class ConfigError(MttdError):
    """A config file or variable that cannot be used; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    help: str

    @property
    def env(self) -> str:
        return "MTTD_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("model", "", str, "model file or run folder; empty = the bundled default; 'persistence' = the copy-previous baseline"),
    Setting("backend", "auto", str, "torch, onnx, onnx-int8 or auto (the fastest export whose metrics stay within 1 point of torch)"),
    Setting("keep_alive", 900.0, float, "idle seconds before the model is unloaded (reloaded on the next call); -1 never, 0 after every call"),
    Setting("queue_size", 8, int, "inference calls waiting or running before new ones get RESOURCE_EXHAUSTED"),
    Setting("cache_entries", 128, int, "results kept by content hash and options"),
    Setting("cache_mb", 64, int, "most memory the kept results may hold (emptied when the model is unloaded for idleness)"),
    Setting("threads", 1, int, "CPU threads for inference (leave the editor its cores)"),
    Setting("max_message_mb", 64, int, "largest gRPC message either way (send paths, not bytes, for big timelines)"),
    Setting("max_steps", 36_000, int, "longest sequence a call may cover, in model steps (36,000 steps of 0.1 s = 1 hour)"),
    Setting("request_timeout", 120.0, float, "longest time any call may take in the daemon, whatever its deadline"),
    Setting("start_timeout", 30.0, float, "seconds `mttd start` waits for the daemon to serve"),
    Setting("log_level", "info", str, "debug, info, warning or error"),
    Setting("log_max_mb", 5, int, "size at which the log file rotates"),
    Setting("log_backups", 5, int, "rotated log files kept"),
    Setting("debug_load_delay", 0.0, float, "extra seconds per model load (fault injection for tests)"),
    Setting("debug_job_delay", 0.0, float, "extra seconds per inference call (fault injection for tests)"),
)
BY_NAME = {s.name: s for s in SETTINGS}
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass
class Config:
    values: dict[str, Any]
    sources: dict[str, str]  # "default", "file PATH" or "env MTTD_X"
    tables: dict[str, Any] = field(default_factory=dict)
    watch: WatchSettings = field(default_factory=lambda: WatchSettings())  # the [watch] table

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": s.name, "value": self.values[s.name], "source": self.sources[s.name], "help": s.help} for s in SETTINGS]


def load(paths: Paths, environ: dict[str, str] | None = None) -> Config:
    env = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    tables: dict[str, Any] = {}
    file_values = _read_file(paths.config_file)
    for key, raw in file_values.items():
        if isinstance(raw, dict):
            tables[key] = raw
            continue
        setting = BY_NAME.get(key)
        if setting is None:
            raise ConfigError(f"{paths.config_file}: unknown setting {key!r} (known: {', '.join(BY_NAME)})")
        values[key] = _coerce(setting, raw, f"{paths.config_file}: {key}")
        sources[key] = f"file {paths.config_file}"
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _coerce(setting, env[setting.env], setting.env, from_text=True)
            sources[setting.name] = f"env {setting.env}"
    _validate(values, sources)
    return Config(values, sources, tables, watch_settings(tables, str(paths.config_file)))


def defaults() -> Config:
    """Every setting at its built-in default (what lifecycle commands use when the config is broken)."""
    return Config({s.name: s.default for s in SETTINGS}, {s.name: "default" for s in SETTINGS})


def load_or_defaults(paths: Paths, warn: Callable[[str], None], environ: dict[str, str] | None = None) -> Config:
    """`load`, or the defaults and one warning line when the config is broken: `mttd status` and
    `mttd stop` must control a running daemon whatever its config file holds."""
    try:
        return load(paths, environ)
    except ConfigError as err:
        warn(f"warning: {err}; using the defaults")
        return defaults()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from None


def _coerce(setting: Setting, raw: Any, where: str, from_text: bool = False) -> Any:
    kind = setting.kind
    try:
        if from_text and kind is not str:
            return kind(raw.strip())
        if kind is float and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, kind) and not isinstance(raw, bool):
            return raw
    except ValueError:
        pass
    raise ConfigError(f"{where}: expected {_kind_name(kind)}, got {raw!r}")


def _validate(values: dict[str, Any], sources: dict[str, str]) -> None:
    def bad(name: str, reason: str) -> ConfigError:
        return ConfigError(f"{name} = {values[name]!r} ({sources[name]}): {reason}")

    for name in ("queue_size", "cache_entries", "threads", "max_message_mb", "log_max_mb", "max_steps", "cache_mb"):
        if values[name] < 1:
            raise bad(name, "must be at least 1")
    for name in ("request_timeout", "start_timeout"):
        if values[name] <= 0:
            raise bad(name, "must be positive")
    for name in ("log_backups", "debug_load_delay", "debug_job_delay"):
        if values[name] < 0:
            raise bad(name, "must not be negative")
    if values["keep_alive"] < 0 and values["keep_alive"] != -1:
        raise bad("keep_alive", "seconds >= 0, or -1 for never")
    if values["backend"] not in BACKENDS:
        raise bad("backend", f"one of {', '.join(BACKENDS)}")
    if values["log_level"].lower() not in LOG_LEVELS:
        raise bad("log_level", f"one of {', '.join(LOG_LEVELS)}")


@dataclass(frozen=True)
class WatchSettings:
    """The `[watch]` table of config.toml."""

    settle_ms: int = 500  # quiet time after the last event before a file is looked at
    reconcile_minutes: float = 5.0  # full scan for missed saves (events the OS dropped)
    poll_interval_s: float = 2.0  # for folders watched with --poll (network drives)
    queue_max: int = 1024  # files waiting at once; beyond it a later scan picks them up
    kinds: tuple[str, ...] = ("review", "next", "fill")  # the suggestions written to sidecars
    picture: bool = False  # also draw NAME.mtt.png (`mttd viz`); off by default: it costs a forward pass
    follow_symlinks: bool = False  # process timelines that are symlinks (their target may be private)


def watch_settings(tables: dict, where: str = "config.toml") -> WatchSettings:
    """WatchSettings from the config's tables; ConfigError naming a bad or unknown key."""
    table = tables.get("watch", {})
    defaults = WatchSettings()
    values = {}
    for key, raw in table.items():
        if key not in WatchSettings.__dataclass_fields__:
            known = ", ".join(WatchSettings.__dataclass_fields__)
            raise ConfigError(f"{where}: unknown setting [watch] {key!r} (known: {known})")
        values[key] = _setting_value(key, raw, getattr(defaults, key), where)
    return WatchSettings(**values)


def _setting_value(key: str, raw: object, default: object, where: str) -> object:
    if key == "kinds":
        if not isinstance(raw, list) or not raw or not set(raw) <= set(default):
            raise ConfigError(f"{where}: [watch] kinds must be a list of {', '.join(default)}, got {raw!r}")
        return tuple(raw)
    if isinstance(default, bool):
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}: [watch] {key} must be true or false, got {raw!r}")
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        raise ConfigError(f"{where}: [watch] {key} must be a positive number, got {raw!r}")
    return type(default)(raw)


def _kind_name(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "a string"}[kind]

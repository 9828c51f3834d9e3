"""The installer's parts without a real install: directories, manifest, config, plugin placement,
--dry-run, and uninstall driven by a manifest. The real install is in test_installer_e2e.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path, PureWindowsPath

import pytest
from platformdirs.macos import MacOS
from platformdirs.unix import Unix
from platformdirs.windows import Windows

from daemon import config as daemon_config
from daemon import paths as daemon_paths
from installer import dirs as dirs_mod
from installer import plugins, shell_path
from installer.install import InstallError, make_app_dirs, render_config, resolve_source, torch_requirement
from installer.manifest import Manifest, ManifestError, load
from installer.uninstall import purge_hint, uninstall
from tests.conftest import REPO
from tests.helpers_installer import snapshot, user_home_env

ENVIRONMENTS = [
    {},
    {"XDG_CONFIG_HOME": "/c", "XDG_DATA_HOME": "/d", "XDG_STATE_HOME": "/s", "XDG_CACHE_HOME": "/k"},
    {"XDG_CONFIG_HOME": "relative/is/ignored", "XDG_DATA_HOME": ""},
    {"MTTD_HOME": "/m"},
]


@pytest.fixture()
def clean_env(tmp_path, monkeypatch):
    for name in ("MTTD_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_BIN_HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


# --- directories: the stdlib mirror agrees with platformdirs and daemon.paths ------------------


@pytest.mark.parametrize("extra", ENVIRONMENTS)
def test_installer_dirs_are_the_daemons_dirs(clean_env, extra):
    for name, value in extra.items():
        clean_env.setenv(name, value)
    mine, theirs = dirs_mod.resolve(), daemon_paths.resolve()
    assert (mine.config_dir, mine.data_dir, mine.state_dir, mine.log_dir, mine.cache_dir, mine.runtime_dir) == (
        theirs.config_dir, theirs.data_dir, theirs.state_dir, theirs.log_dir, theirs.cache_dir, theirs.runtime_dir)


def test_the_runtime_folder_is_per_home_or_per_xdg_runtime_dir(clean_env, tmp_path):
    runtimes = []
    for name in ("home-a", "home-b"):  # two homes of one uid, no XDG_RUNTIME_DIR: never one socket folder
        clean_env.setenv("HOME", str(tmp_path / name))
        runtime = daemon_paths.resolve().runtime_dir
        assert runtime == tmp_path / name / ".local" / "state" / "mttd" / "run" == dirs_mod.resolve().runtime_dir
        runtimes.append(runtime)
    assert runtimes[0] != runtimes[1]
    xdg = tmp_path / "xdg-run"
    xdg.mkdir(mode=0o700)
    clean_env.setenv("XDG_RUNTIME_DIR", str(xdg))
    assert daemon_paths.resolve().runtime_dir == xdg / "mttd" == dirs_mod.resolve().runtime_dir
    xdg.chmod(0o755)  # open to others: not what the XDG spec promises, so not used
    assert daemon_paths.resolve().runtime_dir == tmp_path / "home-b" / ".local" / "state" / "mttd" / "run"


@pytest.mark.parametrize("extra", ENVIRONMENTS[:3])
def test_installer_dirs_mirror_platformdirs_on_linux_and_macos(clean_env, extra):
    for name, value in extra.items():
        clean_env.setenv(name, value)
    for platform, cls in (("linux", Unix), ("darwin", MacOS)):
        want = cls("mttd", appauthor=False)
        got = dirs_mod.resolve(platform=platform)
        assert [str(p) for p in (got.config_dir, got.data_dir, got.state_dir, got.log_dir, got.cache_dir)] == [
            want.user_config_dir, want.user_data_dir, want.user_state_dir, want.user_log_dir, want.user_cache_dir], platform
    assert str(dirs_mod.resolve(platform="darwin").runtime_dir) == MacOS("mttd", appauthor=False).user_runtime_dir


def test_installer_dirs_mirror_platformdirs_on_windows(clean_env):
    clean_env.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", r"C:\Users\Ed\AppData\Local")
    clean_env.setenv("USERPROFILE", r"C:\Users\Ed")
    want = Windows("mttd", appauthor=False)
    got = dirs_mod.resolve(platform="win32")
    mine = [PureWindowsPath(p) for p in (want.user_config_dir, want.user_data_dir, want.user_state_dir, want.user_log_dir,
                                         want.user_cache_dir, want.user_runtime_dir)]
    assert mine == [got.config_dir, got.data_dir, got.state_dir, got.log_dir, got.cache_dir, got.runtime_dir]
    assert got.bin_dir == PureWindowsPath(r"C:\Users\Ed\.local\bin")


def test_launchers_go_to_local_bin_or_xdg_bin_home_or_mttd_home(clean_env, tmp_path):
    assert dirs_mod.resolve().bin_dir == tmp_path / "home" / ".local" / "bin"
    clean_env.setenv("XDG_BIN_HOME", "/xb")
    assert dirs_mod.resolve().bin_dir == Path("/xb")
    clean_env.setenv("MTTD_HOME", str(tmp_path / "side"))
    assert dirs_mod.resolve().bin_dir == tmp_path / "side" / "bin"  # never replaces the user's own mttd


# --- manifest and config -----------------------------------------------------------------------


def test_manifest_round_trips_and_records_a_path_once(tmp_path):
    m = Manifest(tmp_path / "m.json", version="1.2", backend="systemd")
    m.add(tmp_path / "a", "file", "launcher")
    m.add(tmp_path / "a", "file", "launcher", keep=True)
    m.add_created_dirs([tmp_path / "d"], keep=True)
    m.save()
    back = load(tmp_path / "m.json")
    assert (back.version, back.backend, [(e.path, e.keep) for e in back.entries]) == (
        "1.2", "systemd", [(str(tmp_path / "a"), False), (str(tmp_path / "d"), True)])
    assert load(tmp_path / "missing.json") is None


def test_a_foreign_or_broken_manifest_is_a_clear_error(tmp_path):
    path = tmp_path / "install-manifest.json"
    path.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(ManifestError, match="not an mttd install manifest"):
        load(path)
    path.write_text("{")
    with pytest.raises(ManifestError, match="cannot read the install manifest"):
        load(path)


def test_config_file_holds_every_user_setting_commented_with_its_default(tmp_path):
    settings = [{"name": s.name, "default": s.default, "help": s.help} for s in daemon_config.SETTINGS]
    text = render_config(settings)
    assert tomllib.loads(text) == {}  # all commented: the defaults stay the daemon's own
    uncommented = "\n".join(line[2:] for line in text.splitlines() if re.match(r"# [a-z_]+ = ", line))
    values = tomllib.loads(uncommented)
    assert values == {s.name: s.default for s in daemon_config.SETTINGS if not s.name.startswith("debug_")}
    home = tmp_path / "home"
    paths = daemon_paths.resolve({"MTTD_HOME": str(home)})
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text(uncommented)
    loaded = daemon_config.load(paths, {})
    assert all(loaded.values[name] == value for name, value in values.items())


def test_torch_pin_comes_from_the_package_being_installed():
    assert torch_requirement(REPO) == "torch==2.13.0"


def test_from_must_be_a_checkout_or_a_wheel(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    for bad in (tmp_path, tmp_path / "notes.txt", tmp_path / "missing.whl"):
        with pytest.raises(InstallError, match="neither a checkout of mttd"):
            resolve_source(bad)
    assert resolve_source(REPO) == REPO


# --- plugins -----------------------------------------------------------------------------------


def test_plugins_go_to_each_blender_version_and_resolve_when_present(tmp_path):
    home = tmp_path / "home"
    for version in ("3.6", "4.5", "5.0"):
        (home / ".config" / "blender" / version).mkdir(parents=True)
    (home / ".config" / "blender" / "notaversion").mkdir()
    env = {"HOME": str(home)}
    found = plugins.survey(REPO / "plugin_bridge", env, "linux")
    assert [p.editor for p in found.placements] == ["Blender 4.5", "Blender 5.0"]
    assert found.placements[0].targets() == [home / ".config" / "blender" / "4.5" / "scripts" / "addons" / "mtt_blender"]
    assert any("Blender 3.6" in line and "older" in line for line in found.absent)
    assert any(line.startswith("DaVinci Resolve") for line in found.absent)
    (home / ".local" / "share" / "DaVinciResolve").mkdir(parents=True)
    resolve = plugins.survey(REPO / "plugin_bridge", env, "linux").placements[-1]
    edit = home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts" / "Edit"
    assert resolve.targets() == [edit / "MTT Suggest.py", edit / "mtt_resolve"]


def test_blender_user_scripts_and_xdg_config_home_are_where_blender_looks(tmp_path):
    (tmp_path / "xdg" / "blender" / "4.5").mkdir(parents=True)
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert plugins.survey(REPO / "plugin_bridge", env, "linux").placements[0].folder == tmp_path / "xdg" / "blender" / "4.5" / "scripts" / "addons"
    env["BLENDER_USER_SCRIPTS"] = str(tmp_path / "scripts")
    assert plugins.survey(REPO / "plugin_bridge", env, "linux").placements[0].folder == tmp_path / "scripts" / "addons"


def test_premiere_panel_goes_to_the_cep_extensions_folder_on_macos(tmp_path):
    home = tmp_path / "home"
    env = {"HOME": str(home)}
    assert not [p for p in plugins.survey(REPO / "plugin_bridge", env, "darwin").placements if p.editor == "Premiere Pro"]
    (home / "Documents" / "Adobe" / "Premiere Pro").mkdir(parents=True)
    (premiere,) = [p for p in plugins.survey(REPO / "plugin_bridge", env, "darwin").placements if p.editor == "Premiere Pro"]
    assert premiere.targets() == [home / "Library" / "Application Support" / "Adobe" / "CEP" / "extensions" / "org.mttd.suggestions"]
    assert "PlayerDebugMode" in premiere.note
    assert not [p for p in plugins.survey(REPO / "plugin_bridge", env, "linux").placements if p.editor == "Premiere Pro"]


def test_placing_plugins_unpacks_the_addon_and_leaves_the_users_files_alone(tmp_path):
    home = tmp_path / "home"
    addons = home / ".config" / "blender" / "4.5" / "scripts" / "addons"
    (addons / "someone_elses").mkdir(parents=True)
    (addons / "someone_elses" / "__init__.py").write_text("x = 1\n")
    (home / "Library" / "Application Support" / "Adobe" / "CEP" / "extensions").mkdir(parents=True)
    manifest = Manifest(tmp_path / "m.json")
    for platform in ("linux", "darwin"):
        for placement in plugins.survey(REPO / "plugin_bridge", {"HOME": str(home)}, platform).placements:
            assert plugins.place(placement, REPO / "plugin_bridge", sys.executable, manifest, None) == []
    addon = addons / "mtt_blender" / "__init__.py"
    assert addon.read_text() == (REPO / "plugin_bridge" / "blender" / "mtt_blender" / "__init__.py").read_text()
    assert (addons / "someone_elses" / "__init__.py").read_text() == "x = 1\n"
    panel = home / "Library" / "Application Support" / "Adobe" / "CEP" / "extensions" / "org.mttd.suggestions"
    assert (panel / "CSXS" / "manifest.xml").read_bytes() == (REPO / "plugin_bridge" / "premiere" / "CSXS" / "manifest.xml").read_bytes()
    assert not (panel / "__init__.py").exists()
    recorded = {e.path for e in manifest.entries}
    assert {str(addons / "mtt_blender"), str(panel)} <= recorded and str(addons) not in recorded  # addons/ existed
    # A second placement without a previous manifest must not take over the folder it finds.
    again = Manifest(tmp_path / "m2.json")
    (placement,) = plugins.survey(REPO / "plugin_bridge", {"HOME": str(home)}, "linux").placements
    assert "left as it is" in plugins.place(placement, REPO / "plugin_bridge", sys.executable, again, None)[0]
    assert plugins.place(placement, REPO / "plugin_bridge", sys.executable, again, manifest) == []


# --- dry run and uninstall without a real install ----------------------------------------------


def test_dry_run_prints_every_path_and_creates_nothing(tmp_path):
    env, home = user_home_env(tmp_path)
    (home / ".config" / "blender" / "4.5" / "scripts" / "addons").mkdir(parents=True)
    (home / ".local" / "share" / "DaVinciResolve").mkdir(parents=True)
    before = snapshot(tmp_path)
    done = subprocess.run([str(REPO / "installer" / "install.sh"), "--dry-run"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert snapshot(tmp_path) == before
    printed = {line.split("  ")[2] for line in done.stdout.splitlines() if line.startswith("  create  ")}
    data = home / ".local" / "share" / "mttd"
    assert {str(data / "venv"), str(data / "install-manifest.json"), str(home / ".local" / "bin" / "mttd"),
            str(home / ".local" / "bin" / "mtt-bridge"), str(home / ".config" / "mttd" / "config.toml"),
            str(home / ".config" / "autostart" / "mttd.desktop"),
            str(home / ".config" / "blender" / "4.5" / "scripts" / "addons" / "mtt_blender"),
            str(home / ".local" / "share" / "DaVinciResolve" / "Fusion" / "Scripts" / "Edit" / "MTT Suggest.py")} <= printed
    bare = subprocess.run([str(REPO / "installer" / "install.sh"), "--dry-run", "--no-service", "--no-plugins"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert "autostart" not in bare.stdout and "Blender" not in bare.stdout and "Resolve" not in bare.stdout
    assert str(home / ".local" / "bin" / "mttd") in bare.stdout


def test_uninstall_without_a_manifest_removes_nothing(tmp_path, monkeypatch, capsys):
    env, home = user_home_env(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (home / ".config" / "mttd").mkdir(parents=True)
    before = snapshot(tmp_path)
    assert uninstall() == 0
    assert "nothing recorded" in capsys.readouterr().out
    assert snapshot(tmp_path) == before


def test_uninstall_removes_recorded_files_only_and_keeps_settings(tmp_path, monkeypatch):
    env, home = user_home_env(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    dirs = dirs_mod.resolve()
    before = snapshot(tmp_path)
    manifest = Manifest(dirs.manifest)
    make_app_dirs(dirs, manifest)
    dirs.config_file.write_text("# mine\n")
    manifest.add(dirs.config_file, "file", "config", keep=True)
    (dirs.venv / "bin").mkdir(parents=True)
    manifest.add(dirs.venv, "tree", "venv")
    dirs.bin_dir.mkdir(parents=True)
    manifest.add(dirs.bin_dir, "dir", "parent")
    (dirs.bin_dir / "mttd").symlink_to(dirs.venv / "bin" / "mttd")
    manifest.add(dirs.bin_dir / "mttd", "link", "launcher")
    (dirs.bin_dir / "mtt-bridge").write_text("the user's own, put there after the install\n")
    manifest.add(dirs.bin_dir / "mtt-bridge", "link", "launcher")
    manifest.save()
    assert uninstall() == 0
    assert not dirs.venv.exists() and not (dirs.bin_dir / "mttd").is_symlink()
    assert (dirs.bin_dir / "mtt-bridge").read_text().startswith("the user's own")  # not our launcher any more
    assert dirs.config_file.read_text() == "# mine\n"
    # bin/ still holds the user's file: it stays recorded for a later --purge.
    assert [e.role for e in load(dirs.manifest).entries if e.role != "parent"] == ["appdir"] * len(dirs.app_dirs()) + ["config"]
    assert str(dirs.bin_dir) in {e.path for e in load(dirs.manifest).entries}
    (dirs.bin_dir / "mtt-bridge").unlink()
    assert uninstall(purge=True) == 0
    assert snapshot(tmp_path) == before


def test_the_installer_needs_the_standard_library_only():
    done = subprocess.run([sys.executable, "-S", "-c", "import installer.__main__, installer.install, installer.uninstall, sys; "
                           "assert not {'platformdirs', 'grpc', 'torch'} & set(sys.modules)"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.access(REPO / "installer" / "install.sh", os.X_OK) and os.access(REPO / "installer" / "uninstall.sh", os.X_OK)


def test_windows_plugin_folders_are_under_appdata(tmp_path):
    appdata, profile = tmp_path / "Roaming", tmp_path / "Ed"
    (appdata / "Blender Foundation" / "Blender" / "4.5").mkdir(parents=True)
    (appdata / "Blackmagic Design" / "DaVinci Resolve").mkdir(parents=True)
    (profile / "Documents" / "Adobe" / "Premiere Pro").mkdir(parents=True)
    env = {"APPDATA": str(appdata), "USERPROFILE": str(profile), "HOME": str(tmp_path / "not-used-on-windows")}
    found = {p.editor: p.targets() for p in plugins.survey(REPO / "plugin_bridge", env, "win32").placements}
    assert found == {
        "Blender 4.5": [appdata / "Blender Foundation" / "Blender" / "4.5" / "scripts" / "addons" / "mtt_blender"],
        "DaVinci Resolve": [appdata / "Blackmagic Design" / "DaVinci Resolve" / "Support" / "Fusion" / "Scripts" / "Edit" / name
                            for name in ("MTT Suggest.py", "mtt_resolve")],
        "Premiere Pro": [appdata / "Adobe" / "CEP" / "extensions" / "org.mttd.suggestions"],
    }


# --- the launcher folder on PATH ---------------------------------------------------------------


def login_shell_finds_mttd(home: Path, bin_dir: Path) -> str:
    """What `command -v mttd` says in a new bash login shell of this home (PATH without bin_dir)."""
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "SHELL": "/bin/bash"}
    done = subprocess.run(["bash", "-lc", "command -v mttd"], env=env, capture_output=True, text=True, timeout=30, cwd=home)
    return done.stdout.strip()


def test_path_lines_make_new_login_shells_find_mttd_and_come_out_byte_for_byte(tmp_path):
    home, bin_dir = tmp_path / "home", tmp_path / "home" / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "mttd").write_text("#!/bin/sh\n")
    (bin_dir / "mttd").chmod(0o755)
    (home / ".bashrc").write_text("alias ll='ls -l'\n")
    (home / ".bash_profile").write_text("# no newline at the end")
    before = snapshot(home)
    assert login_shell_finds_mttd(home, bin_dir) == ""
    changes = shell_path.plan(bin_dir, home, login_shell="/bin/bash")
    assert {(c.path.name, c.role) for c in changes} == {
        (".profile", shell_path.ROLE_CREATED), (".bashrc", shell_path.ROLE_EDITED),
        (".bash_profile", shell_path.ROLE_EDITED_NEWLINE)}
    for change in changes:
        shell_path.apply(change)
    assert login_shell_finds_mttd(home, bin_dir) == str(bin_dir / "mttd")
    assert shell_path.plan(bin_dir, home, login_shell="/bin/bash") == []  # where the folder is named already, nothing more
    for change in changes:
        assert shell_path.undo(change.path, change.role)
    assert snapshot(home) == before


def test_a_profile_naming_the_folder_already_is_left_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text('if [ -d "$HOME/.local/bin" ] ; then PATH="$HOME/.local/bin:$PATH"; fi\n')
    assert shell_path.plan(home / ".local" / "bin", home, login_shell="/bin/sh") == []
    other = shell_path.plan(tmp_path / "side" / "bin", home, login_shell="/bin/zsh")  # MTTD_HOME's own bin: not named
    assert [c.path.name for c in other] == [".profile", ".zshenv"]


def test_the_current_shell_command_is_one_line_that_puts_the_folder_first(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/bash")
    bin_dir = tmp_path / "my bin"
    command = shell_path.current_shell_command(bin_dir)
    assert command == f"export PATH='{bin_dir}':\"$PATH\""
    done = subprocess.run(["sh", "-c", f'{command}; printf %s "$PATH"'], capture_output=True, text=True, timeout=30)
    assert done.stdout.split(":")[0] == str(bin_dir)


def test_the_purge_hint_names_a_command_that_exists_once_mttd_is_gone(tmp_path, monkeypatch):
    env, home = user_home_env(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    dirs = dirs_mod.resolve()
    dirs.config_dir.mkdir(parents=True)
    dirs.cache_dir.mkdir(parents=True)
    assert purge_hint(str(REPO), dirs) == f"{REPO / 'installer' / 'uninstall.sh'} --purge"
    # installed from a wheel, or the checkout moved away: remove the folders by hand
    hint = purge_hint(str(tmp_path / "gone"), dirs)
    assert hint == f"rm -r {dirs.config_dir} {dirs.cache_dir}"
    done = subprocess.run(["sh", "-c", hint], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not dirs.config_dir.exists() and not dirs.cache_dir.exists()

"""Install mttd for this user, without administrator rights: `installer/install.sh` runs this.

What it does, in order (each created file and folder goes into the install manifest first):
1. mttd's folders (config, data, state, log; 0700), then a virtual environment in the data folder;
2. mttd itself from the checkout or a wheel, with what it needs to suggest (the ONNX backend,
   every timeline reader); with --with-training first the CPU build of torch (the version the
   `train` extra pins), then mttd with that extra;
3. `mttd` and `mtt-bridge` launchers in ~/.local/bin (or $XDG_BIN_HOME, MTTD_HOME/bin), and that
   folder on PATH for new shells (installer.shell_path), unless --no-modify-path;
4. the config file with the defaults, commented, unless one exists;
5. autostart (`mttd install-service`), unless --no-service;
6. the editor plugins, for the editors present, unless --no-plugins.
Running it again upgrades in place: the daemon is stopped first and started again afterwards, so
no daemon of the old version keeps running (daemon-notes pitfall 10). Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from daemon import service
from installer import dirs as dirs_mod
from installer import plugins as plugins_mod
from installer import shell_path
from installer.manifest import Manifest, load, make_dirs, missing_dirs

REPO = Path(__file__).resolve().parents[1]
# Linux wheels on PyPI are CUDA builds; PyTorch's own index has the CPU ones. PyPI's macOS and
# Windows wheels are CPU builds already.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI = "https://pypi.org/simple"
LAUNCHERS = ("mttd", "mtt-bridge")
TRAIN_EXTRA = "train"
EXAMPLE = Path("examples") / "vlog.xml"  # the README's Quick start runs it
# Not needed to build the wheel; a checkout is copied without them.
SKIP_IN_COPY = {".git", ".venv", "venv", "build", "dist", "tests", "runs", "data", ".pytest_cache", ".hypothesis", ".ci"}
STATUS_RUNNING = 0


class InstallError(Exception):
    """A step that failed; the message says which and why."""


@dataclass
class Options:
    source: Path | None = None  # a checkout or a .whl; default: this checkout
    service: bool = True
    plugins: bool = True
    dry_run: bool = False
    torch_index: str = ""
    with_training: bool = False  # torch and the ONNX exporter: `mttd train`, `mttd export`, --backend torch
    modify_path: bool = True  # put the launcher folder on PATH in the shell startup files


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (what, detail)
    notes: list[str] = field(default_factory=list)
    path_command: str = ""  # what makes `mttd` work in the installer's own shell, when needed

    def add(self, what: str, detail: str) -> None:
        self.lines.append((what, detail))


# --- helpers ---------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for the venv's processes: never the checkout on PYTHONPATH (install.sh sets it)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def venv_script(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / (f"{name}.exe" if os.name == "nt" else name)


def run(args: list[str | Path], what: str, timeout: float | None = None, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=child_env(), timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InstallError(f"{what}: {err}") from None
    if check and done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise InstallError(f"{what} failed (exit {done.returncode}):\n{tail}")
    return done


def pip(venv: Path, *args: str, what: str) -> subprocess.CompletedProcess:
    return run([*pip_command(venv), "--disable-pip-version-check", *args], what)


def pip_command(venv: Path) -> list[str | Path]:
    """The venv's own pip, else (a venv made --without-pip, until pip is installed into it) this
    Python's pip pointed at the venv with --python."""
    if has_own_pip(venv):
        return [venv_python(venv), "-I", "-m", "pip"]
    return [sys.executable, "-I", "-m", "pip", "--python", venv_python(venv)]


def has_own_pip(venv: Path) -> bool:
    return any(venv.glob("lib/python*/site-packages/pip")) or (venv / "Lib" / "site-packages" / "pip").is_dir()


def can_install_elsewhere() -> bool:
    """Whether this Python's pip can install into another environment (--python, pip 22.3 on)."""
    try:
        done = subprocess.run([sys.executable, "-I", "-m", "pip", "--version"], capture_output=True, text=True,
                              env=child_env(), timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    found = re.match(r"pip (\d+)\.(\d+)", done.stdout)
    return done.returncode == 0 and found is not None and (int(found[1]), int(found[2])) >= (22, 3)


def make_venv(venv: Path) -> bool:
    """Create the venv; returns whether pip still has to go into it. With a pip of our own that
    can install elsewhere, the venv starts without one (ensurepip costs 4 s of CPU, 20 s under
    load) and gets pip in the same run as mttd."""
    if can_install_elsewhere():
        run([sys.executable, "-m", "venv", "--without-pip", venv], "creating the virtual environment")
        return True
    run([sys.executable, "-m", "venv", venv], "creating the virtual environment")
    return False


def step(message: str) -> None:
    print(f"-> {message}", flush=True)


# --- the source: a checkout or a wheel --------------------------------------------------------


def resolve_source(source: Path | None) -> Path:
    path = (source or REPO).expanduser().resolve()
    if path.is_file() and path.suffix == ".whl":
        return path
    if path.is_dir() and (path / "pyproject.toml").is_file():
        return path
    raise InstallError(f"--from {path}: neither a checkout of mttd (with pyproject.toml) nor a .whl file")


def torch_requirement(source: Path) -> str:
    """The torch pin of the package being installed, from its `train` extra (pyproject.toml or the
    wheel's METADATA, where it reads `torch==V; extra == "train"`)."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as archive:
            meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            requires = [line.split(":", 1)[1].strip() for line in archive.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")]
    else:
        with (source / "pyproject.toml").open("rb") as f:
            project = tomllib.load(f)["project"]
        requires = project["dependencies"] + project.get("optional-dependencies", {}).get(TRAIN_EXTRA, [])
    for req in requires:
        spec = req.split(";")[0].replace(" ", "")
        if re.fullmatch(r"torch==[\w.+]+", spec, re.IGNORECASE):
            return spec
    raise InstallError(f"{source} pins no torch==VERSION: an unpinned torch would be a multi-GB CUDA build")


def checkout_files(repo: Path) -> list[Path]:
    """The checkout's files as git sees them (tracked and new, not ignored), else a filtered walk."""
    if (repo / ".git").exists() and shutil.which("git"):
        done = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                              capture_output=True)
        if done.returncode == 0:
            names = [n for n in done.stdout.decode().split("\0") if n]
            return [repo / n for n in names if n.split("/")[0] not in SKIP_IN_COPY and (repo / n).is_file()]
    files = []
    for root, subdirs, names in os.walk(repo):
        subdirs[:] = [d for d in subdirs if d != "__pycache__" and not d.endswith(".egg-info")
                      and not (Path(root) == repo and d in SKIP_IN_COPY)]
        files += [Path(root) / n for n in names if not n.endswith(".pyc")]
    return files


def build_wheel(venv: Path, repo: Path, out_dir: Path) -> Path:
    """Build from a clean copy: an in-tree build would leave build/ in the checkout, and a stale
    build/lib would put deleted modules back into the wheel."""
    copy = out_dir / "src"
    for path in checkout_files(repo):
        target = copy / path.relative_to(repo)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    pip(venv, "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out_dir), str(copy), what="building the mttd wheel")
    wheels = sorted(out_dir.glob("mttd-*.whl"))
    if not wheels:
        raise InstallError(f"building the mttd wheel left no mttd-*.whl in {out_dir}")
    return wheels[-1]


# --- the steps -------------------------------------------------------------------------------


def make_app_dirs(dirs: dirs_mod.InstallDirs, manifest: Manifest) -> None:
    for app_dir in dirs.app_dirs():
        manifest.add_created_dirs(make_dirs(app_dir.parent), keep=True)
        if not app_dir.exists():
            app_dir.mkdir(mode=0o700)
        manifest.add(app_dir, "tree", "appdir", keep=True)
    manifest.save()


def stop_old_daemon(venv: Path) -> str | None:
    """Stop a running daemon of the installed version; returns its version, None if none ran."""
    mttd = venv_script(venv, "mttd")
    if not mttd.exists():
        return None
    status = run([mttd, "status", "--json"], "mttd status", timeout=60, check=False)
    if status.returncode != STATUS_RUNNING:
        return None
    try:
        version = json.loads(status.stdout).get("version") or "?"
    except ValueError:
        version = "?"
    step(f"stopping the running daemon (mttd {version}) for the upgrade")
    run([mttd, "stop"], "mttd stop", timeout=120)
    return version


def install_torch(venv: Path, requirement: str, index: str) -> str:
    """Install the CPU build of torch; returns where it came from."""
    if index:
        pip(venv, "install", requirement, "--index-url", index, "--extra-index-url", PYPI, what=f"installing {requirement} from {index}")
        return index
    # A wheel already on this machine (pip's find-links, a wheelhouse): no download of ~200 MB.
    local = pip_try(venv, "install", "--no-index", "--no-deps", requirement)
    if local:
        return "a wheel on this machine"
    if sys.platform.startswith("linux"):
        cpu = requirement + "+cpu" if requirement.startswith("torch==") and "+" not in requirement else requirement
        pip(venv, "install", cpu, "--index-url", TORCH_CPU_INDEX, "--extra-index-url", PYPI, what=f"installing {cpu} (CPU build)")
        return TORCH_CPU_INDEX
    pip(venv, "install", requirement, what=f"installing {requirement}")
    return "PyPI"


def torch_line(version: str | None, source: str) -> str:
    if version and source:
        return f"torch {version} from {source}"
    if version:
        return f"torch {version}, kept from an earlier --with-training"
    return "no torch: suggestions run on ONNX; add training with --with-training"


def pip_try(venv: Path, *args: str) -> bool:
    done = subprocess.run([str(a) for a in pip_command(venv)] + ["--disable-pip-version-check", "--quiet", *args],
                          capture_output=True, env=child_env())
    return done.returncode == 0


VENV_INFO = """
import importlib.metadata, importlib.util, json, sys
import plugin_bridge
from daemon.config import SETTINGS
from daemon.paths import resolve
p = resolve()
print(json.dumps({
    "version": importlib.metadata.version("mttd"),
    "torch": importlib.util.find_spec("torch") and importlib.metadata.version("torch"),
    "python": sys.version.split()[0],
    "dirs": {"config_dir": str(p.config_dir), "data_dir": str(p.data_dir), "state_dir": str(p.state_dir), "log_dir": str(p.log_dir),
             "cache_dir": str(p.cache_dir), "runtime_dir": str(p.runtime_dir)},
    "config_file": str(p.config_file),
    "plugin_root": plugin_bridge.__path__[0],
    "settings": [{"name": s.name, "default": s.default, "help": s.help} for s in SETTINGS],
}))
"""


def venv_info(venv: Path) -> dict:
    # -I: never the packages of the folder the installer runs in (often this very checkout)
    done = run([venv_python(venv), "-I", "-c", VENV_INFO], "reading the installed mttd")
    return json.loads(done.stdout)


def check_dirs(dirs: dirs_mod.InstallDirs, info: dict, report: Report) -> None:
    """The installer's stdlib directories must be the daemon's platformdirs ones; say so if not."""
    for name, actual in info["dirs"].items():
        if Path(actual) != getattr(dirs, name):
            report.notes.append(f"the installer computed {name} {getattr(dirs, name)} but mttd uses {actual}; please report this")


def render_config(settings: list[dict]) -> str:
    lines = [
        "# mttd settings. Uncomment a line to change it; `mttd config show` prints the effective values",
        "# and where each comes from. MTTD_<NAME> environment variables override this file.",
        "",
    ]
    for s in settings:
        if s["name"].startswith("debug_"):
            continue  # fault injection for tests, not for users
        lines.append(f"# {s['help']}")
        lines.append(f"# {s['name']} = {_toml_value(s['default'])}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def write_config(config_file: Path, settings: list[dict], manifest: Manifest, report: Report) -> None:
    if config_file.exists():
        report.add("config", f"{config_file} (kept as it was)")
        return
    manifest.add_created_dirs(make_dirs(config_file.parent), keep=True)
    fd = os.open(config_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render_config(settings))
    manifest.add(config_file, "file", "config", keep=True)
    report.add("config", f"{config_file} (defaults, commented)")


def is_our_launcher(path: Path, venv: Path) -> bool:
    """A POSIX launcher is a symlink into the venv (Windows copies are known by the manifest only)."""
    return path.is_symlink() and Path(os.readlink(path)).parent == venv_script(venv, "x").parent


def place_launchers(dirs: dirs_mod.InstallDirs, manifest: Manifest, previous: Manifest | None, report: Report) -> None:
    manifest.add_created_dirs(make_dirs(dirs.bin_dir))
    placed = []
    for name in LAUNCHERS:
        target = dirs.bin_dir / (f"{name}.exe" if os.name == "nt" else name)
        source = venv_script(dirs.venv, name)
        ours = previous is not None and previous.has(target) or os.name != "nt" and is_our_launcher(target, dirs.venv)
        if (target.exists() or target.is_symlink()) and not ours:
            report.notes.append(f"{target} exists and is not mttd's launcher: left as it is; mttd is at {source}")
            continue
        if target.exists() or target.is_symlink():
            target.unlink()
        if os.name == "nt":
            shutil.copy2(source, target)  # pip's launcher finds the venv's python by absolute path
        else:
            target.symlink_to(source)
        manifest.add(target, "file" if os.name == "nt" else "link", "launcher")
        placed.append(str(target))
    manifest.save()
    if placed:
        report.add("commands", ", ".join(placed))


def put_on_path(dirs: dirs_mod.InstallDirs, modify: bool, manifest: Manifest, report: Report) -> None:
    """The launcher folder on PATH for new shells (unless `modify` is off), and the command for this one."""
    if dirs_mod.on_path(dirs.bin_dir):
        return
    report.path_command = shell_path.current_shell_command(dirs.bin_dir)
    if not modify:
        if os.name == "nt":  # not setx: it folds the system PATH into the user's and cuts it at 1024 characters
            how = ("in PowerShell: [Environment]::SetEnvironmentVariable('Path', "
                   f"[Environment]::GetEnvironmentVariable('Path', 'User') + ';{dirs.bin_dir}', 'User')")
        else:
            how = f"{report.path_command} in your shell's profile"
        report.notes.append(f"{dirs.bin_dir} is not on your PATH (--no-modify-path): add it ({how}) or run {dirs.bin_dir / 'mttd'}")
        return
    if os.name == "nt":
        if shell_path.windows_add(dirs.bin_dir):
            manifest.add(dirs.bin_dir, "user-path", "user-path")
        report.add("PATH", f"{dirs.bin_dir} added to your user Path (new terminals)")
        manifest.save()
        return
    changes = shell_path.plan(dirs.bin_dir, dirs_mod.home())
    for change in changes:
        manifest.add_created_dirs(make_dirs(change.path.parent))
        shell_path.apply(change)
        manifest.add(change.path, "lines", change.role)
    manifest.save()
    if changes:
        report.add("PATH", f"{dirs.bin_dir} added for new shells in " + ", ".join(str(c.path) for c in changes))
    else:
        report.add("PATH", f"{dirs.bin_dir}: your shell startup files name it already (new shells find mttd)")


def install_service(venv: Path, manifest: Manifest, report: Report) -> bool:
    """`mttd install-service --json`; returns whether it started the daemon."""
    done = run([venv_script(venv, "mttd"), "install-service", "--json"], "mttd install-service", timeout=120, check=False)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        result = None
    if done.returncode != 0 or not isinstance(result, dict):
        message = (done.stderr or done.stdout).strip().splitlines()
        report.add("autostart", f"not installed: {message[-1] if message else 'mttd install-service failed'}")
        return False
    manifest.add_created_dirs([Path(d) for d in result["created_dirs"]])
    for path in result["files"]:
        manifest.add(Path(path), "file", "service")
    manifest.backend = result["backend"]
    manifest.save()
    where = ", ".join(result["files"]) or f"task {result['backend']}"
    report.add("autostart", f"{result['backend']}: {where}" + (" (started)" if result["started"] else ""))
    report.notes += result["notes"]
    return bool(result["started"])


def place_plugins(plugin_root: Path, manifest: Manifest, previous: Manifest | None, report: Report) -> None:
    found = plugins_mod.survey(plugin_root)
    for placement in found.placements:
        notes = plugins_mod.place(placement, plugin_root, sys.executable, manifest, previous)
        manifest.plugins.append({"editor": placement.editor, "paths": [str(t) for t in placement.targets()]})
        manifest.save()
        report.add(placement.editor, f"{', '.join(map(str, placement.targets()))} ({placement.note})")
        report.notes += notes
    for line in found.absent:
        report.add(line.split(":")[0], "not installed: " + line.split(":", 1)[1].strip())


# --- dry run ---------------------------------------------------------------------------------


def planned_paths(opts: Options, dirs: dirs_mod.InstallDirs) -> list[tuple[Path, str]]:
    """Every file and folder a real run would create, as (path, what) pairs, creating nothing."""
    planned: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def plan(path: Path, what: str) -> None:
        for parent in missing_dirs(path.parent):
            if parent not in seen:
                seen.add(parent)
                planned.append((parent, "folder"))
        if path not in seen and not path.exists():
            seen.add(path)
            planned.append((path, what))

    for app_dir in dirs.app_dirs():
        plan(app_dir, "mttd folder (0700)")
    with_torch = ", the CPU build of torch" if opts.with_training else ""
    plan(dirs.venv, f"virtual environment: Python, pip{with_torch}, mttd and its dependencies")
    for name in LAUNCHERS:
        plan(dirs.bin_dir / (f"{name}.exe" if os.name == "nt" else name), f"launcher -> {venv_script(dirs.venv, name)}")
    plan(dirs.config_file, "config file with the defaults")
    if opts.modify_path and not dirs_mod.on_path(dirs.bin_dir) and os.name != "nt":
        for change in shell_path.plan(dirs.bin_dir, dirs_mod.home()):
            if change.role == shell_path.ROLE_CREATED:
                plan(change.path, "shell startup file putting the launcher folder on PATH")
    plan(dirs.manifest, "install manifest (what uninstall removes)")
    if opts.service:
        backend = service.detect_backend()
        path = service.definition_path(backend)
        if path is not None:
            plan(path, f"autostart ({backend})")
        else:
            planned.append((Path(f"task {service.TASK_NAME}"), "Task Scheduler logon task"))
        if backend == "launchd":
            plan(dirs.log_dir, "log folder (launchd does not create it)")
    if opts.plugins:
        for placement in plugins_mod.survey(REPO / "plugin_bridge").placements:
            for target in placement.targets():
                plan(target, placement.editor)
    return planned


def dry_run(opts: Options, dirs: dirs_mod.InstallDirs, source: Path) -> int:
    print(f"mttd install --dry-run: would install from {source}; nothing is created.")
    for path, what in planned_paths(opts, dirs):
        print(f"  create  {path}  ({what})")
    if opts.modify_path and not dirs_mod.on_path(dirs.bin_dir):
        if os.name == "nt":
            print(f"  edit    your user Path  (adds {dirs.bin_dir})")
        for change in shell_path.plan(dirs.bin_dir, dirs_mod.home()):
            if change.role != shell_path.ROLE_CREATED:
                print(f"  edit    {change.path}  (adds {dirs.bin_dir} to PATH, between '# >>> mttd' marker lines)")
    if dirs.manifest.exists():
        print(f"  (an install exists: {dirs.manifest}; a real run upgrades it in place)")
    return 0


# --- the whole install -----------------------------------------------------------------------


def install(opts: Options) -> int:
    dirs = dirs_mod.resolve()
    source = resolve_source(opts.source)
    if opts.dry_run:
        return dry_run(opts, dirs, source)
    started = time.monotonic()
    report = Report()
    previous = load(dirs.manifest)
    manifest = Manifest(dirs.manifest, entries=list(previous.entries) if previous else [])
    manifest.source = str(source)
    manifest.backend = previous.backend if previous else ""
    make_app_dirs(dirs, manifest)
    old_version = stop_old_daemon(dirs.venv)

    if not venv_python(dirs.venv).exists():
        step(f"creating the virtual environment {dirs.venv}")
        make_venv(dirs.venv)
    manifest.add(dirs.venv, "tree", "venv")
    manifest.save()

    torch_from = ""
    if opts.with_training:
        requirement = torch_requirement(source)
        step(f"installing {requirement} (CPU build) for training")
        torch_from = install_torch(dirs.venv, requirement, opts.torch_index)
    with tempfile.TemporaryDirectory(prefix="mttd-install-") as tmp:
        wheel = source
        if source.is_dir():
            step(f"building mttd from {source}")
            wheel = build_wheel(dirs.venv, source, Path(tmp))
        step(f"installing {wheel.name} and its dependencies")
        target = f"{wheel}[{TRAIN_EXTRA}]" if opts.with_training else str(wheel)
        upgrade = venv_script(dirs.venv, "mttd").exists()
        # --no-compile: Python compiles what mttd imports on first use, not all of matplotlib and
        # onnxruntime now (a few seconds of the install)
        with_pip = [] if has_own_pip(dirs.venv) else ["pip"]  # the venv's own, for later upgrades and extras
        pip(dirs.venv, "install", "--quiet", "--no-compile", target, *with_pip, what=f"installing {wheel.name}")
        if upgrade:  # the same version number may hold new code (a checkout): always put this wheel's files in
            pip(dirs.venv, "install", "--quiet", "--no-compile", "--force-reinstall", "--no-deps", str(wheel),
                what=f"reinstalling {wheel.name}")
    info = venv_info(dirs.venv)
    manifest.version = info["version"]
    check_dirs(dirs, info, report)
    report.add("environment", f"{dirs.venv} (Python {info['python']}, {torch_line(info['torch'], torch_from)})")

    place_launchers(dirs, manifest, previous, report)
    put_on_path(dirs, opts.modify_path, manifest, report)
    write_config(Path(info["config_file"]), info["settings"], manifest, report)
    service_started = False
    if opts.service:
        step("installing autostart (mttd install-service)")
        service_started = install_service(dirs.venv, manifest, report)
    if opts.plugins:
        step("placing the editor plugins")
        place_plugins(Path(info["plugin_root"]), manifest, previous, report)
    if old_version and not service_started:
        run([venv_script(dirs.venv, "mttd"), "start"], "starting the upgraded daemon", timeout=180)
    if old_version:
        report.add("daemon", f"restarted: mttd {old_version} -> {info['version']}")
    manifest.save()
    report.add("manifest", f"{dirs.manifest} (what `mttd uninstall` removes)")
    print_report(info["version"], previous is not None, report, time.monotonic() - started, source)
    return 0


def example_command(source: Path) -> str | None:
    """`mttd suggest examples/vlog.xml` (the README's second command), from where the user is."""
    example = source / EXAMPLE if source.is_dir() else None
    if example is None or not example.is_file():
        return None
    shown = EXAMPLE if Path.cwd().resolve() == source else example
    return f"mttd suggest {shown}"


def print_report(version: str, upgraded: bool, report: Report, seconds: float, source: Path) -> None:
    print()
    print(f"mttd {version} {'upgraded in place' if upgraded else 'installed'} for this user in {seconds:.0f} s:")
    width = max(len(what) for what, _ in report.lines)
    for what, detail in report.lines:
        print(f"  {what:<{width}}  {detail}")
    for note in report.notes:
        print(f"note: {note}")
    print()
    print("Next:")
    steps = []
    if report.path_command:
        steps.append((report.path_command, "in this shell only: new shells find mttd by themselves"))
    if (example := example_command(source)) is not None:
        steps.append((example, "suggestions for the example timeline"))
    steps.append(("mttd watch add FOLDER", "where your editor exports timelines: created if missing; starts the daemon"))
    width = max(len(command) for command, _ in steps)
    for command, why in steps:
        print(f"  {command:<{width}}   # {why}")

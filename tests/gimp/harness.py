"""Run a real GIMP 3 headless (batch mode) for the plug-in tests, in each GIMP series.

The tests run against every series in ``SERIES`` (3.0 and 3.2; ``NST_GIMP_SERIES`` or
pytest's ``--gimp-series`` choose some). Two ways to get a GIMP of a series with Python support:

* ``gimp-console-<series>`` (or ``gimp-console-3`` of that series) on PATH: run it directly;
* otherwise (Debian 12 machines, CI) the series' Debian root provisioned by
  ``tests/gimp/provision_root.sh`` (reused when present), entered with ``chroot``
  in a clean environment. The engine's virtual environment, the interpreter it was
  built from, the checkout, the shared folder and a per-run work folder are
  bind-mounted at their host paths, so every path means the same inside and out.
  Everything mounted is unmounted again, in reverse order, in ``finally``.

Usage (see tests/gimp/test_gimp_plugin.py)::

    gimp = find_gimp("3.2")            # raises GimpUnavailable with a reason
    with gimp.session(extra_dirs) as sess:
        proc = sess.gimp(["-b", code], env={...}, timeout=600)   # gimp.version: what ran

``install_plugin(profile)`` copies plugin/neural-style-transfer into a throwaway
GIMP profile (``GIMP3_DIRECTORY``).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN_SRC = REPO / "plugin" / "neural-style-transfer"
PLUGIN_NAME = "neural-style-transfer"
# The GIMP series the real-GIMP tests run against: series -> (variable naming its root, default
# root). 3.0 comes from Debian 13 (trixie), 3.2 from Debian forky (provision_root.sh).
SERIES = {"3.0": ("NST_GIMP3_ROOT", "/var/cache/nst-gimp3-root"),
          "3.2": ("NST_GIMP32_ROOT", "/var/cache/nst-gimp32-root")}
READY_STAMP = ".nst-gimp3-ready"
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class GimpUnavailable(Exception):
    """No GIMP 3 can be run here (the reason is the message)."""


def _is_mountpoint(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


def venv_base_prefix(python: str) -> Path | None:
    """The prefix of the interpreter a venv was created from (pyvenv.cfg ``home``)."""
    exe = Path(python)
    for cfg in (exe.parent.parent / "pyvenv.cfg", exe.parent / "pyvenv.cfg"):
        if cfg.is_file():
            for line in cfg.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "home":
                    home = Path(value.strip())
                    # .../versions/3.11.7/bin -> .../versions/3.11.7
                    return (home.parent if home.name in ("bin", "Scripts") else home).resolve()
    return None


def series_of(version: str) -> str:
    """"3.2.6" -> "3.2": the series a GIMP version belongs to."""
    return ".".join(version.split(".")[:2])


def series_root(series: str) -> Path:
    var, default = SERIES[series]
    return Path(os.environ.get(var, default))


def _program(bindirs, stem: str, series: str) -> str | None:
    """``stem-<series>`` (3.0's and 3.2's own names), else ``stem-3`` (the session checks its
    version), found in ``bindirs``; its name, or None."""
    for name in (f"{stem}-{series}", f"{stem}-3"):
        if any((Path(d) / name).exists() for d in bindirs):
            return name
    return None


def root_ready(root: Path, series: str) -> bool:
    """The series' root is provisioned (provision_root.sh's stamp and GIMP's console program)."""
    return (root / READY_STAMP).exists() and _program([root / "usr/bin"], "gimp-console", series) is not None


def _read_version(cmd: list) -> str:
    """GIMP's version from ``<program> --version`` ("... version 3.2.6")."""
    r = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=120)
    words = r.stdout.split()
    if r.returncode != 0 or not words:
        raise GimpUnavailable(f"{shlex.join(cmd)} --version failed: {(r.stderr or r.stdout)[-500:]}")
    return words[-1]


class Session:
    """Commands inside the GIMP environment (the root, or this machine when native)."""

    def __init__(self, prefix, base_env, gimp):
        self.prefix = prefix          # argv prefix that enters the root ([] when native)
        self.base_env = base_env
        self.console = gimp.console   # e.g. gimp-console-3.2: batch mode, no display needed
        self.gui = gimp.gui           # e.g. gimp-3.2: the full GUI

    def _cmd(self, argv, env):
        full_env = dict(self.base_env)
        full_env.update(env or {})
        if self.prefix:
            return ["env", "-i", *[f"{k}={v}" for k, v in full_env.items()], *self.prefix, *argv], \
                {"PATH": CLEAN_PATH}
        return list(argv), full_env

    def run(self, argv, env=None, timeout=600):
        cmd, penv = self._cmd(argv, env)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=penv)

    def popen(self, argv, env=None, **kw):
        cmd, penv = self._cmd(argv, env)
        return subprocess.Popen(cmd, env=penv, **kw)

    def gimp(self, args, env=None, timeout=600):
        return self.run([self.console, *args], env, timeout)

    def has(self, program):
        return self.run(["sh", "-c", f"command -v {program}"], timeout=30).returncode == 0


class _Gimp:
    """One GIMP series' programs and the version they report (``version``: what the tests ran)."""

    def __init__(self, series: str, console: str, gui: str | None, version: str):
        self.series, self.console, self.gui, self.version = series, console, gui, version
        if series_of(version) != series:
            raise GimpUnavailable(f"{console} is GIMP {version}, not {series}")


class NativeGimp(_Gimp):
    """GIMP of the series found on PATH: no chroot needed."""

    kind = "native"

    @contextlib.contextmanager
    def session(self, binds=()):
        # a clean PATH: with pyenv shims first, the plug-ins' "#!/usr/bin/env python3" finds
        # a Python without gi (see shared/docs/gimp3-headless.md)
        path = os.pathsep.join([os.path.dirname(shutil.which(self.console)), "/usr/local/bin", CLEAN_PATH])
        yield Session([], {"PATH": path, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/tmp")}, self)


class ChrootGimp(_Gimp):
    """GIMP of the series inside its provisioned Debian root."""

    kind = "chroot"

    def __init__(self, series: str, root: Path):
        self.root = root
        bindir = [root / "usr/bin"]
        console = _program(bindir, "gimp-console", series)
        version = _read_version(["chroot", str(root), "env", "-i", f"PATH={CLEAN_PATH}", console])
        super().__init__(series, console, _program(bindir, "gimp", series), version)

    def _bind(self, host: Path, mounted: list, created: list):
        target = self.root / str(host).lstrip("/")
        if not target.exists():
            created.append(target)
        if host.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(exist_ok=True)
        subprocess.run(["mount", "--bind", str(host), str(target)], check=True)
        mounted.append(target)

    @contextlib.contextmanager
    def session(self, binds=()):
        """Mount /proc, /dev, /sys and ``binds`` (host paths) into the root for the duration.

        A lock file serialises sessions on the same root (two test runs at once would
        otherwise unmount each other's /proc)."""
        with root_lock(self.root):
            mounted: list[Path] = []
            created: list[Path] = []
            try:
                for m in ("proc", "dev", "sys"):
                    if not _is_mountpoint(self.root / m):
                        self._bind(Path("/" + m), mounted, created)
                seen = set()
                for host in binds:
                    host = Path(host).resolve()
                    if host in seen or not host.exists():
                        continue
                    seen.add(host)
                    if str(host) in ("/", "/usr", "/bin", "/lib", "/etc", "/proc", "/dev", "/sys"):
                        raise GimpUnavailable(f"refusing to bind-mount system folder {host} into the GIMP root")
                    self._bind(host, mounted, created)

                yield Session(["chroot", str(self.root)],
                              {"PATH": CLEAN_PATH, "HOME": "/root", "LANG": "C.UTF-8"}, self)
            finally:
                for target in reversed(mounted):
                    r = subprocess.run(["umount", str(target)], capture_output=True)
                    if r.returncode != 0:
                        subprocess.run(["umount", "-l", str(target)], capture_output=True)
                # remove the mount points this session made, when empty and unmounted
                for target in reversed(created):
                    if not _is_mountpoint(target):
                        try:
                            target.rmdir() if target.is_dir() else target.unlink()
                        except OSError:
                            pass


@contextlib.contextmanager
def root_lock(root: Path):
    """The lock file beside a root: held by provisioning and by every session using the root."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / (root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def provision(series: str, root: Path, capture: bool = True) -> subprocess.CompletedProcess:
    """Run provision_root.sh for ``series`` under the root's lock (it reuses a valid root and adds
    the dialog tests' extras when missing). ``capture=False`` lets its messages through."""
    with root_lock(root):
        return subprocess.run(["bash", str(HERE / "provision_root.sh"), series, str(root)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE if capture else None,
                              timeout=3600)


def native_gimp(series: str):
    """GIMP of ``series`` on PATH (``gimp-console-<series>``, or ``gimp-console-3`` when it is that
    series), or None."""
    if os.environ.get("NST_GIMP_FORCE_CHROOT") == "1":
        return None
    bindirs = os.environ.get("PATH", "").split(os.pathsep)
    console = _program(bindirs, "gimp-console", series)
    if console is None:
        return None
    try:
        return NativeGimp(series, console, _program(bindirs, "gimp", series),
                          _read_version([shutil.which(console)]))
    except GimpUnavailable:
        return None     # gimp-console-3 of another series


def find_gimp(series: str, provision_missing: bool = True):
    """A runnable GIMP of ``series`` ("3.0", "3.2"): native on PATH, else the series' root.

    Raises GimpUnavailable when neither is possible (not root and no such GIMP)."""
    native = native_gimp(series)
    if native is not None:
        return native
    root = series_root(series)
    if os.geteuid() != 0:
        raise GimpUnavailable(f"no gimp-console-{series} on PATH and not root (the Debian root with "
                              f"GIMP {series} needs chroot/mount): GIMP {series} plug-in tests skipped")
    if os.environ.get("NST_SKIP_GIMP") == "1":
        provision_missing = False      # tests/run.py: use what is there, provision nothing
    ready = root_ready(root, series)
    extras = all((root / "usr/bin" / x).exists() for x in ("Xvfb", "xdotool", "xwd"))
    if not ready and not provision_missing:
        raise GimpUnavailable(f"no GIMP {series} root at {root} (not provisioned: NST_SKIP_GIMP=1)")
    if provision_missing and not (ready and extras):
        r = provision(series, root)   # builds the root, or adds the dialog tests' extras
        if not root_ready(root, series):
            raise RuntimeError(f"provisioning the GIMP {series} root failed (exit {r.returncode}):\n"
                               f"{r.stderr[-3000:]}")
    return ChrootGimp(series, root)


def install_plugin(profile: Path) -> Path:
    """Copy the plug-in and the contract it imports into ``profile/plug-ins/neural-style-transfer/``
    (the main file executable)."""
    dest = profile / "plug-ins" / PLUGIN_NAME
    dest.mkdir(parents=True, exist_ok=True)
    for src in PLUGIN_SRC.glob("*.py"):
        shutil.copy2(src, dest / src.name)
    # the contract the plug-in imports, next to it as install.py puts it (issue 12)
    shutil.copytree(REPO / "nst_contract", dest / "nst_contract", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    main = dest / f"{PLUGIN_NAME}.py"
    main.chmod(main.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dest


class Workspace:
    """A throwaway GIMP profile with the plug-in installed and its config written."""

    def __init__(self, engine_python: str, repo: Path, shared_images: Path, weights: Path,
                 model: str = "vgg16"):
        import json
        import tempfile
        self.work = Path(tempfile.mkdtemp(prefix="nst-gimp-test-"))
        self.profile = self.work / "profile"
        self.plugin_dir = install_plugin(self.profile)
        self.plugin_tmp = self.work / "tmp"
        for d in ("tmp", "cache", "gimptmp", "home"):
            (self.work / d).mkdir()
        self.config = self.plugin_dir / "nst-config.json"
        self.config.write_text(json.dumps({
            "engine_python": engine_python, "engine_path": str(repo), "weights": str(weights),
            "model": model, "device": "cpu"}, indent=1))
        self.env = {"HOME": str(self.work / "home"), "GIMP3_DIRECTORY": str(self.profile),
                    "GIMP3_CACHEDIR": str(self.work / "cache"),
                    "GIMP3_TEMPDIR": str(self.work / "gimptmp"), "TMPDIR": str(self.plugin_tmp)}
        venv_dir = Path(engine_python).parent.parent
        self.binds = [self.work, Path(repo), Path(shared_images).parent, Path(weights).parent,
                      venv_dir]
        base = venv_base_prefix(engine_python)
        if base is not None:
            self.binds.append(base)

    def batch_args(self, script: Path, params: dict) -> list:
        import json
        pfile = self.work / (script.stem + "-params.json")
        pfile.write_text(json.dumps(params))
        code = (f'import sys; sys.path.insert(0, "{script.parent}"); '  # for gimp_calls
                f'NST_PARAMS="{pfile}"; exec(open("{script}").read())')
        return ["-i", "--batch-interpreter=python-fu-eval", "-b", code, "--quit"]

    def remove(self):
        """Delete the work folder, unless something is still mounted under it (never
        delete through a bind mount)."""
        try:
            with open("/proc/self/mounts") as f:
                mounts = f.read()
        except OSError:
            mounts = ""
        if str(self.work) in mounts:
            sys.stderr.write(f"not deleting {self.work}: still mounted somewhere\n")
            return
        shutil.rmtree(self.work, ignore_errors=True)


def engine_python_default() -> str:
    return os.environ.get("NST_ENGINE_PYTHON",
                          os.path.expanduser("~/.cache/gimp-neural-style/test-venv/bin/python"))


# ----------------------------------------------------------------------------- cancel

def read_cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _ppid(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return None


class CancelWatcher(threading.Thread):
    """Does what GIMP does when the user presses Cancel in the progress bar: SIGKILL the
    plug-in process (app/plug-in/gimpplugin-progress.c -> gimp_plug_in_close(plug_in, TRUE)).
    Finds the engine run (``nst_engine ... --watch-stdin``) whose argv ``match`` accepts,
    waits ``delay_s`` (torch import, a few steps), kills its parent (the plug-in) and
    measures how long the engine survives."""

    def __init__(self, match, deadline_s: float, delay_s: float = 8.0):
        super().__init__(daemon=True)
        self.match = match
        self.delay_s = delay_s
        self.deadline = time.time() + deadline_s
        self.info: dict = {}
        self.stop = threading.Event()

    def _find_engine(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            argv = read_cmdline(pid)
            if "nst_engine" in argv and "--watch-stdin" in argv and self.match(argv):
                return pid, argv
        return None, None

    def run(self):
        while not self.stop.is_set() and time.time() < self.deadline:
            pid, argv = self._find_engine()
            if pid:
                break
            time.sleep(0.2)
        else:
            self.info["error"] = "engine of the cancel case never seen"
            return
        self.info["engine_pid"] = int(pid)
        time.sleep(self.delay_s)  # let it import torch and run a few steps
        parent = _ppid(pid)
        pargv = read_cmdline(parent) if parent else []
        self.info["parent_cmdline"] = pargv
        if not any(a.endswith("neural-style-transfer.py") for a in pargv):
            self.info["error"] = f"engine parent is not the plug-in: {pargv}"
            return
        out = argv[argv.index("-o") + 1]
        self.info["engine_output"] = out
        self.info["engine_alive_at_kill"] = os.path.exists(f"/proc/{pid}")
        os.kill(int(parent), signal.SIGKILL)
        t = time.time()
        while os.path.exists(f"/proc/{pid}") and read_cmdline(pid) and time.time() - t < 60:
            time.sleep(0.1)
        self.info["engine_exit_seconds"] = round(time.time() - t, 2)
        self.info["engine_gone"] = not (os.path.exists(f"/proc/{pid}") and read_cmdline(pid))
        time.sleep(0.5)
        self.info["output_written"] = os.path.exists(out)


def engine_run(command: str, flag: str, value: str):
    """A ``match`` for CancelWatcher / run_batch_session's ``cancel_match``: the engine run of
    ``command`` whose ``flag`` is ``value`` (the cancel case gives it a value no other case uses)."""
    def match(argv: list[str]) -> bool:
        return command in argv and flag in argv and argv[argv.index(flag) + 1:][:1] == [value]
    return match


# ----------------------------------------------------------------------------- one batch session

def ready_workspace(repo_dir, shared_images, fixture_weights, series, model: str = "vgg16"):
    """(GIMP of ``series``, a fresh Workspace) for a test, after checking the engine runs.

    Skips the calling test when no GIMP of that series can run here; fails it when the engine cannot.
    """
    import pytest
    try:
        gimp = find_gimp(series)
    except GimpUnavailable as e:
        pytest.skip(str(e))
    engine_python = engine_python_default()
    if not os.path.exists(engine_python):
        pytest.fail(f"engine interpreter {engine_python} missing (set NST_ENGINE_PYTHON)")
    r = subprocess.run([engine_python, "-m", "nst_engine", "stylize", "--help"], cwd=repo_dir,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"the engine does not run ({engine_python} -m nst_engine stylize --help):\n"
                    f"{r.stderr[-2000:]}")
    return gimp, Workspace(engine_python, repo_dir, shared_images, fixture_weights, model)


@contextlib.contextmanager
def x_display(sess, screen: str, tools=("Xvfb", "xdotool")):
    """An Xvfb display inside a GIMP session, for the GUI tests; yields its name (":N").

    Skips the calling test when ``tools`` are missing where GIMP runs.
    """
    import pytest
    missing = [p for p in tools if not sess.has(p)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed where GIMP runs "
                    "(re-run tests/gimp/provision_root.sh)")
    xvfb = sess.popen(["Xvfb", "-displayfd", "1", "-ac", "-nolisten", "tcp", "-screen", "0", screen],
                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield ":" + xvfb.stdout.readline().strip()
    finally:
        xvfb.kill()
        xvfb.wait()


def wait_for(pred, timeout, what):
    """Poll ``pred`` until it returns something true (returned) or ``timeout`` seconds pass."""
    t = time.time()
    while time.time() - t < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def case_result(results, name):
    """One case's findings from a batch session's results, failing clearly when it did not run."""
    if "fatal" in results or "cases" not in results:
        raise AssertionError(f"GIMP batch did not run: {results.get('fatal')}\n"
                             f"stderr: {results.get('gimp_stderr', '')[-3000:]}")
    info = results["cases"].get(name)
    assert info is not None, f"case {name} missing; stderr: {results.get('gimp_stderr', '')[-3000:]}"
    assert "exception" not in info, info["exception"]
    return info


def run_batch_session(repo_dir, shared_images, fixture_weights, series, cases, params=None,
                      cancel_match=None, cancel_delay_s: float = 8.0, keep_env=None,
                      timeout: float = 1200, model: str = "vgg16") -> dict:
    """Run ``cases`` of tests/gimp/batch_cases.py in one batch session of GIMP ``series`` (a fresh
    profile with the plug-in and a config pointing at the engine) and return its findings,
    plus GIMP's exit status, output and timing. With ``cancel_match`` a CancelWatcher kills
    the plug-in once an engine run it matches is up (its findings: ``cancel_watcher``).
    Skips the calling test when no GIMP of that series can run here; fails when the engine cannot."""
    import json
    gimp, ws = ready_workspace(repo_dir, shared_images, fixture_weights, series, model)
    try:
        out = ws.work / "results.json"
        all_params = {
            "cases": list(cases), "images": str(shared_images), "config": str(ws.config),
            "out": str(out), "work": str(ws.work), "plugin_tmp": str(ws.plugin_tmp)}
        all_params.update(params or {})
        args = ws.batch_args(HERE / "batch_cases.py", all_params)
        watcher = None
        if cancel_match is not None:
            # only this session's engine: another GIMP test run on the machine (the other
            # series, another checkout) starts engines with the same arguments
            def ours(argv, work=str(ws.work) + os.sep):
                return cancel_match(argv) and any(a.startswith(work) for a in argv)
            # it looks for as long as the session may run (on a loaded machine the cancel case
            # can start late in it); stopped when the session ends
            watcher = CancelWatcher(ours, deadline_s=timeout, delay_s=cancel_delay_s)
            watcher.start()
        t = time.time()
        with gimp.session(ws.binds) as sess:
            proc = sess.gimp(args, ws.env, timeout=timeout)
        if watcher is not None:
            watcher.stop.set()
            watcher.join(5)
        results = json.loads(out.read_text()) if out.exists() else {}
        results["gimp_seconds"] = round(time.time() - t, 1)
        results["gimp_returncode"] = proc.returncode
        results["gimp_stderr"] = proc.stderr[-20000:]
        results["gimp_stdout"] = proc.stdout[-5000:]
        results["cancel_watcher"] = watcher.info if watcher is not None else {}
        results.update(gimp_ran(gimp))
        keep = os.environ.get(keep_env) if keep_env else None
        if keep:
            Path(keep).write_text(json.dumps(results, indent=1))
        return results
    finally:
        ws.remove()   # the session has unmounted everything under it


def gimp_ran(gimp) -> dict:
    """What a test ran, for its findings: kind (native/chroot), program and version."""
    return {"gimp_kind": gimp.kind, "gimp_program": gimp.console, "gimp_version_ran": gimp.version}


def selected_series(choice: str | None = None) -> list[str]:
    """The series to test: ``choice`` (pytest's --gimp-series), else ``NST_GIMP_SERIES``, as a
    comma-separated list ("3.2", "3.0,3.2"); all of ``SERIES`` when neither is given."""
    text = choice or os.environ.get("NST_GIMP_SERIES") or ""
    chosen = [s.strip() for s in text.split(",") if s.strip()] or list(SERIES)
    unknown = [s for s in chosen if s not in SERIES]
    if unknown:
        raise ValueError(f"unknown GIMP series {', '.join(unknown)} (known: {', '.join(SERIES)})")
    return chosen


if __name__ == "__main__":  # manual smoke: python tests/gimp/harness.py [SERIES]
    g = find_gimp(sys.argv[1] if len(sys.argv) > 1 else "3.0")
    with g.session() as sess:
        p = sess.gimp(["--version"], {}, 60)
        print(g.kind, g.console, g.version, p.returncode, p.stdout, p.stderr[-2000:], file=sys.stderr)

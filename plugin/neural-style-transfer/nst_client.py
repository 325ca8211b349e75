"""The engine process as the plug-in runs it: environment, start, JSON-lines events, cancel, stop.

Plain Python (3.9+, standard library only), tested without GIMP. The engine runs in its own
Python (with PyTorch), started with ``--progress json --watch-stdin``: its stdout carries one JSON
event per line (docs/engine-protocol.md), and EOF on its stdin cancels it, so the engine also
stops when GIMP kills the plug-in. run_engine serves a whole run (stylize or visualize);
PreviewEngine keeps one ``serve`` process for the dialog's preview.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from nst_config import Config
from nst_errors import INSTALL_HINT, STYLIZE_TASK, Cancelled, EngineError
from nst_jobs import PREVIEW_SNAPSHOT_EVERY, Job, engine_argv, stylize_args


# Variables from GIMP's (or a bundle's) environment that must not reach the engine's Python.
STRIPPED_ENV = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONUSERBASE",
    "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONPLATLIBDIR", "__PYVENV_LAUNCHER__",
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
    "LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
    "GI_TYPELIB_PATH", "GDK_PIXBUF_MODULE_FILE", "GDK_PIXBUF_MODULEDIR", "GIO_MODULE_DIR",
    "GTK_PATH", "GTK_EXE_PREFIX", "GTK_DATA_PREFIX", "GEGL_PATH", "BABL_PATH",
    "GIMP3_PLUGINDIR", "GIMP3_DATADIR", "GIMP3_SYSCONFDIR", "GIMP3_LOCALEDIR",
    "FONTCONFIG_FILE", "FONTCONFIG_PATH", "SSL_CERT_FILE",
)
CREATE_NO_WINDOW = 0x08000000  # Windows: no console window flashes up for the engine


def engine_env(cfg: Optional[Config] = None, base: Optional[dict] = None) -> Dict[str, str]:
    """The engine's environment: GIMP's, minus what would break another Python."""
    env = dict(os.environ if base is None else base)
    for name in STRIPPED_ENV:
        env.pop(name, None)
    for name in list(env):
        if name.startswith("PYTHON") or name.startswith("GIMP"):
            env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if cfg is not None:
        env.update(cfg.env)
    return env


def popen_kwargs(cfg: Optional[Config] = None, workdir: Optional[str] = None) -> dict:
    """Arguments for subprocess.Popen: no window on Windows, engine source as cwd."""
    kw = {}
    if sys.platform == "win32":
        kw["creationflags"] = CREATE_NO_WINDOW
    kw["cwd"] = (cfg.engine_path if cfg is not None and cfg.engine_path else workdir) or None
    return kw


def parse_event(line) -> Optional[dict]:
    """One stdout line -> event dict, or None for anything that is not an event."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    if not isinstance(ev, dict) or not isinstance(ev.get("event"), str):
        return None
    return ev


class EventLines:
    """Bytes read in pieces (non-blocking) -> complete JSON-lines events."""

    def __init__(self):
        self._buf = b""

    def feed(self, data: bytes) -> List[dict]:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [ev for ev in map(parse_event, lines) if ev is not None]


def tail(path: str, lines: int = 15, max_chars: int = 3000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = "\n".join(data.splitlines()[-lines:])
    return text[-max_chars:]


def run_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: str,
               on_event: Optional[Callable[[dict], None]] = None,
               popen_kw: Optional[dict] = None, task: str = STYLIZE_TASK) -> dict:
    """Run an engine command to completion; return its ``done`` event or raise EngineError
    (``task`` names the job in messages: STYLIZE_TASK, VISUALIZE_TASK).

    The engine's stdin is a pipe that stays open while we run: with
    ``--watch-stdin`` the engine cancels itself when it reaches EOF, i.e. when this
    process dies (GIMP kills the plug-in when the user presses Cancel)."""
    proc = start_engine(argv, env, stderr_path, popen_kw, task)
    last: Optional[dict] = None
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            ev = parse_event(raw)
            if ev is None:
                continue
            last = ev
            if on_event is not None:
                on_event(ev)
        rc = proc.wait()
    except BaseException:
        stop_engine(proc)
        raise
    finally:
        for stream in (proc.stdout, proc.stdin):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
    if last is not None and last.get("event") == "done":
        out = last.get("output")
        if rc == 0:
            return last
        # The engine reported success and wrote its result, then crashed while exiting
        # (seen: an abort in interpreter shutdown). The result is complete: use it.
        if isinstance(out, str) and os.path.isfile(out):
            sys.stderr.write(f"neural-style-transfer: engine exited with status {rc} after "
                             f"reporting success; using its result\n")
            return last
    stderr_tail = tail(stderr_path)
    if last is not None and last.get("event") == "error":
        code = str(last.get("code") or "internal")
        if code == "cancelled":
            raise Cancelled(f"The {task} was cancelled.")
        raise EngineError(str(last.get("message") or ""), code=code, exit_code=rc,
                          stderr_tail=stderr_tail, task=task)
    if rc == 0:
        msg = "the engine finished without reporting a result"
    elif rc < 0:
        msg = f"the engine was killed by signal {-rc}"
    elif rc in (1,) and "No module named" in stderr_tail:
        msg = ("the engine's Python cannot find the nst_engine package (check \"engine_python\" "
               "and \"engine_path\" in the configuration)")
    else:
        msg = "the engine stopped without an error report"
    raise EngineError(msg, code="internal", exit_code=rc, stderr_tail=stderr_tail, task=task)


def start_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: str,
                 popen_kw: Optional[dict] = None, task: str = STYLIZE_TASK) -> subprocess.Popen:
    """Start an engine command with pipes on stdin (kept open: see run_engine) and stdout,
    stderr to ``stderr_path``; EngineError with advice when its Python cannot be started."""
    try:
        with open(stderr_path, "wb") as err:
            return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, env=env, close_fds=True, **dict(popen_kw or {}))
    except OSError as e:
        raise EngineError(f"cannot start the engine's Python {argv[0]}: {e}. {INSTALL_HINT}",
                          code="internal", task=task)


def stop_engine(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Close the engine's stdin (it cancels), then terminate/kill if it lingers."""
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PreviewEngine:
    """One ``serve`` engine process for a dialog's lifetime (docs/engine-protocol.md, serve).

    GIMP-independent: the dialog watches ``fileno()`` with its main loop and calls
    ``read_events()`` when there is output, so nothing here ever blocks the dialog. Only the
    latest job's events are returned (older ones were cancelled by the engine)."""

    def __init__(self, cfg: Config, stderr_path: str, popen_kw: Optional[dict] = None,
                 env: Optional[Dict[str, str]] = None):
        self.cfg = cfg
        self.stderr_path = stderr_path
        argv = engine_argv(cfg, "serve", [])
        self.proc = start_engine(argv, engine_env(cfg) if env is None else env, stderr_path,
                                 popen_kw)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.lines = EventLines()
        self.current: Optional[int] = None
        self._next_id = 0

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def submit(self, job: Job, snapshot_every: int = PREVIEW_SNAPSHOT_EVERY) -> int:
        """Send ``job`` (the engine cancels the one running); return its id."""
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "args": stylize_args(job) + list(self.cfg.extra_args),
                           "snapshot_every": snapshot_every})
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise EngineError("the preview engine stopped", exit_code=self.proc.poll(),
                              stderr_tail=tail(self.stderr_path))
        self.current = self._next_id
        return self.current

    def read_events(self) -> Tuple[List[dict], bool]:
        """(the current job's events read so far, True when the engine's output has ended)."""
        events, ended = [], False
        while True:
            try:
                data = os.read(self.fileno(), 65536)
            except BlockingIOError:
                break
            except OSError:
                ended = True
                break
            if not data:
                ended = True
                break
            events += self.lines.feed(data)
        return [ev for ev in events if ev.get("id") == self.current], ended

    def close(self, timeout: float = 2.0) -> None:
        """Stop the engine (stdin EOF: it cancels the running job and exits) and reap it;
        terminate, then kill, if it lingers (a preview writes nothing worth waiting for)."""
        stop_engine(self.proc, timeout)
        try:
            self.proc.stdout.close()
        except OSError:
            pass

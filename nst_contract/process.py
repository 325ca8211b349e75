"""The engine process, started the same way by the plug-in and the installer's self-check.

- ``engine_env``: the host's environment (GIMP's, a bundle's, a shell's) minus what
  would break another Python (``STRIPPED_ENV``, every ``PYTHON*``/``GIMP*``);
- ``engine_argv``: ``python -m nst_engine COMMAND ARGS --progress json --watch-stdin``;
- ``popen_kwargs``: the engine folder as working directory, no console window on Windows;
- ``start_engine`` / ``stop_engine``: stdin is a pipe kept open — with ``--watch-stdin``
  the engine cancels itself at EOF, i.e. when its parent closes it or dies — and
  stopping is close stdin, then terminate, then kill, and always reap;
- ``run_engine``: start, read events live, wait (with an optional time limit);
  ``outcome`` turns what it saw into the ``done`` event or an ``EngineError``;
- ``EventLines``: bytes read in pieces (non-blocking readers) → whole events.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from .events import EXIT_CODES, EngineError, parse_event

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
STRIPPED_PREFIXES = ("PYTHON", "GIMP")

CREATE_NO_WINDOW = 0x08000000  # Windows: no console window flashes up for the engine
ENGINE_MODULE = "nst_engine"


def engine_env(overrides: Optional[Dict[str, str]] = None, base: Optional[dict] = None,
               drop: Iterable[str] = ()) -> Dict[str, str]:
    """The engine's environment: ``base`` (default: ours) minus what would break another
    Python and the names in ``drop``, unbuffered UTF-8 output, then ``overrides``."""
    env = dict(os.environ if base is None else base)
    for name in (*STRIPPED_ENV, *drop):
        env.pop(name, None)
    for name in list(env):
        if name.startswith(STRIPPED_PREFIXES):
            env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(overrides or {})
    return env


def engine_argv(python: str, command: str, args: Sequence[str] = (), extra: Sequence[str] = ()) -> List[str]:
    """An engine command as front ends run it: ``args`` (the command's arguments, e.g.
    ``requests.to_argv(request)``), JSON progress on stdout, cancel on stdin EOF, ``extra``."""
    return [str(python), "-m", ENGINE_MODULE, command, *args, "--progress", "json", "--watch-stdin", *extra]


def popen_kwargs(engine_path: Optional[str] = None, workdir: Optional[str] = None) -> dict:
    """subprocess.Popen arguments: the engine folder (else ``workdir``) as the working
    directory, so ``-m nst_engine`` finds it first; no console window on Windows."""
    kw = {"cwd": engine_path or workdir or None}
    if sys.platform == "win32":
        kw["creationflags"] = CREATE_NO_WINDOW
    return kw


def start_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: Optional[str] = None,
                 popen_kw: Optional[dict] = None, hint: str = "") -> subprocess.Popen:
    """Start an engine command with pipes on stdin (kept open) and stdout; stderr goes to
    ``stderr_path`` (None: a pipe, for ``run_engine`` to collect). EngineError('internal')
    naming the interpreter, plus ``hint``, when it cannot be started."""
    try:
        if stderr_path is None:
            return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, close_fds=True, **dict(popen_kw or {}))
        with open(stderr_path, "wb") as err:
            return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, env=env, close_fds=True, **dict(popen_kw or {}))
    except OSError as e:
        raise EngineError("internal", f"cannot start the engine's Python {argv[0]}: {e}. {hint}".rstrip())


def stop_engine(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Close the engine's stdin (it cancels), then terminate/kill if it lingers; reap it."""
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


class EventLines:
    """Bytes read in pieces (non-blocking) → complete JSON-lines events; other lines in ``bad``."""

    def __init__(self):
        self._buf = b""
        self.bad: List[str] = []

    def feed(self, data: bytes) -> List[dict]:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [ev for ev in map(self._event, lines) if ev is not None]

    def _event(self, line: bytes) -> Optional[dict]:
        ev = parse_event(line)
        if ev is None and line.strip():
            self.bad.append(line.decode("utf-8", "replace").strip())
        return ev


@dataclass
class Finished:
    """What one engine run did: exit status, every event, stdout lines that were not events,
    stderr (when it was collected, not written to a file), and whether the time limit hit."""

    returncode: int
    events: List[dict] = field(default_factory=list)
    bad: List[str] = field(default_factory=list)
    stderr: str = ""
    timed_out: bool = False

    @property
    def last(self) -> Optional[dict]:
        return self.events[-1] if self.events else None


def run_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: Optional[str] = None,
               on_event: Optional[Callable[[dict], None]] = None, popen_kw: Optional[dict] = None,
               timeout: Optional[float] = None, hint: str = "") -> Finished:
    """Run an engine command to its end, reading events as they come (``on_event``).

    stdin stays open while it runs: with ``--watch-stdin`` the engine cancels itself when
    this process dies. An exception here (KeyboardInterrupt, on_event's) stops the engine
    and propagates; past ``timeout`` seconds the engine is killed (``timed_out``)."""
    proc = start_engine(argv, env, stderr_path, popen_kw, hint)
    err: List[bytes] = []
    reader = None
    if proc.stderr is not None:
        reader = threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, b"")), daemon=True)
        reader.start()
    expired = threading.Event()

    def kill():
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    lines, events = EventLines(), []
    try:
        for raw in iter(proc.stdout.readline, b""):
            for ev in lines.feed(raw if raw.endswith(b"\n") else raw + b"\n"):
                events.append(ev)
                if on_event is not None:
                    on_event(ev)
        rc = proc.wait()
    except BaseException:
        stop_engine(proc)
        raise
    finally:
        if timer:
            timer.cancel()
        for stream in (proc.stdout, proc.stdin):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
    if reader is not None:
        reader.join(5)
    return Finished(rc, events, lines.bad, b"".join(err).decode("utf-8", "replace"), expired.is_set())


def outcome(run: Finished, stderr_tail: str = "") -> dict:
    """The run's ``done`` event, or the EngineError that says why there is none.

    A ``done`` with a non-zero exit still counts when its output file exists (seen: an
    abort in interpreter shutdown after the result was written). ``cancelled`` is an
    EngineError like the others: front ends tell it apart by its code."""
    last, rc = run.last, run.returncode
    if last is not None and last.get("event") == "done":
        out = last.get("output")
        if rc == 0:
            return last
        if isinstance(out, str) and os.path.isfile(out):
            sys.stderr.write(f"nst_contract: engine exited with status {rc} after reporting success; "
                             f"using its result\n")
            return last
    tail = stderr_tail or _tail_text(run.stderr)
    if last is not None and last.get("event") == "error":
        code = str(last.get("code") or "internal")
        message = str(last.get("message") or "")
        if code not in EXIT_CODES:  # a newer engine's code: keep it in the message
            code, message = "internal", f"{message} ({last.get('code')})"
        raise EngineError(code, message, returncode=rc, stderr_tail=tail)
    if run.timed_out:
        msg = "the engine did not finish in time and was stopped"
    elif rc == 0:
        msg = "the engine finished without reporting a result"
    elif rc < 0:
        msg = f"the engine was killed by signal {-rc}"
    elif rc == 1 and "No module named" in tail:
        msg = ("the engine's Python cannot find the nst_engine package (check \"engine_python\" "
               "and \"engine_path\" in the configuration)")
    else:
        msg = "the engine stopped without an error report"
    raise EngineError("internal", msg, returncode=rc, stderr_tail=tail)


def _tail_text(text: str, lines: int = 15, max_chars: int = 3000) -> str:
    return "\n".join(text.splitlines()[-lines:])[-max_chars:]


def tail(path: str, lines: int = 15, max_chars: int = 3000) -> str:
    """The last ``lines`` lines (at most ``max_chars``) of the engine's stderr file."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return _tail_text(data, lines, max_chars)

"""The engine process as the plug-in runs it: environment, start, JSON-lines events, cancel, stop.

Plain Python (3.9+, standard library only), tested without GIMP. The process itself is the
contract's (nst_contract.process, which the installer's self-check uses too); here it gets the
config's settings, the plug-in's errors (EngineError for the user, Cancelled for GIMP's
Cancel) and the dialog's preview engine. The engine runs with ``--progress json
--watch-stdin``: its stdout carries one JSON event per line (docs/engine-protocol.md), and EOF
on its stdin cancels it, so the engine also stops when GIMP kills the plug-in.
"""
from __future__ import annotations

import json
import os
import subprocess
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from nst_contract import events, process
from nst_contract.plugin_config import Config
from nst_contract.process import EventLines, stop_engine, tail
from nst_errors import INSTALL_HINT, STYLIZE_TASK, Cancelled, EngineError
from nst_jobs import PREVIEW_SNAPSHOT_EVERY, Job, engine_argv, stylize_args


def engine_env(cfg: Optional[Config] = None, base: Optional[dict] = None) -> Dict[str, str]:
    """The engine's environment: GIMP's, minus what would break another Python, plus the
    config's ``env``."""
    return process.engine_env(cfg.env if cfg is not None else None, base)


def popen_kwargs(cfg: Optional[Config] = None, workdir: Optional[str] = None) -> dict:
    """Arguments for subprocess.Popen: no window on Windows, engine source as cwd."""
    return process.popen_kwargs(cfg.engine_path if cfg is not None else None, workdir)


def start_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: str,
                 popen_kw: Optional[dict] = None, task: str = STYLIZE_TASK) -> subprocess.Popen:
    """Start an engine command (stdin and stdout pipes, stderr to ``stderr_path``);
    EngineError with advice when its Python cannot be started."""
    try:
        return process.start_engine(argv, env, stderr_path, popen_kw, hint=INSTALL_HINT)
    except events.EngineError as e:
        raise EngineError.of(e, task)


def run_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: str,
               on_event: Optional[Callable[[dict], None]] = None,
               popen_kw: Optional[dict] = None, task: str = STYLIZE_TASK) -> dict:
    """Run an engine command to completion; return its ``done`` event, or raise Cancelled
    or EngineError (``task`` names the job in messages: STYLIZE_TASK, VISUALIZE_TASK).

    The engine's stdin is a pipe that stays open while we run: with ``--watch-stdin`` the
    engine cancels itself when it reaches EOF, i.e. when this process dies (GIMP kills the
    plug-in when the user presses Cancel)."""
    try:
        run = process.run_engine(argv, env, stderr_path, on_event, popen_kw, hint=INSTALL_HINT)
        return process.outcome(run, tail(stderr_path))
    except events.EngineError as e:
        if e.code == "cancelled":
            raise Cancelled(f"The {task} was cancelled.")
        raise EngineError.of(e, task)


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
            raise EngineError("internal", "the preview engine stopped", returncode=self.proc.poll(),
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

"""Cancel as GIMP does it: kill the plug-in process while its engine runs, and watch the engine."""
from __future__ import annotations

import os
import signal
import threading
import time


def read_cmdline(pid: str) -> list[str]:
    """The argv of process ``pid`` ([] when it is gone)."""
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
        self._kill_plugin(pid, parent, argv[argv.index("-o") + 1])

    def _kill_plugin(self, pid: str, parent: str, out: str):
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

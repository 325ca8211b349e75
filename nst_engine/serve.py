"""``serve``: one long-lived engine process for many ``stylize`` jobs.

For front ends that stylise again and again (the plug-in's live preview, scripts that
stylise many layers): the network is loaded once, and the style's Gram targets are
reused while the style (as the network sees it) stays the same (``transfer.reuse.Reuse``).

Protocol (docs/engine-protocol.md, "serve"): one JSON object per line on stdin,
``{"id": ID, "args": [stylize arguments...], "snapshot_every": N}`` or
``{"cancel": ID}``; every job's events go to stdout as JSON lines tagged with its
``id``, ending with ``done`` or ``error``. One job runs at a time: a newer job cancels
the running one (and replaces one still waiting). EOF on stdin ends the process.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from nst_contract.events import EXIT_CODES, EngineError, Error, Ready, Snapshot, bad_input
from nst_contract.jsonlines import BadLine, read_json
from nst_contract.requests import StylizeRequest, from_argv

from .services.cancel import CancelToken
from .services.reporters import JsonReporter, failure

# The serve command's options that every job inherits (a job's own arguments come after them).
COMMON = ("model", "weights", "device", "threads")

SNAPSHOT_SUFFIX = "-snapshot.png"
SNAPSHOT_FOLDER_PREFIX = ".nst-snapshots-"


@dataclass
class ServeJob:
    id: object
    args: list
    snapshot_every: int = 0


def parse_line(line: bytes | str):
    """A stdin line → ``ServeJob``, ``("cancel", id)``, or raise ``bad_input`` saying what a line must be."""
    try:
        msg = read_json(line)
    except BadLine as exc:
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        raise bad_input(f"a job line must be one JSON object, {{\"id\": ..., \"args\": [...]}} or "
                        f"{{\"cancel\": ID}}, but {exc}; got {text.strip()[:80]!r}")
    if "cancel" in msg:
        return ("cancel", msg["cancel"])
    if "id" not in msg or not isinstance(msg["id"], (str, int)) or isinstance(msg["id"], bool):
        raise bad_input("a job needs an \"id\" (a string or a whole number) to tag its events")
    args = msg.get("args")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise bad_input(f"job {msg['id']!r}: \"args\" must be a list of strings (stylize's arguments)")
    every = msg.get("snapshot_every", 0)
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise bad_input(f"job {msg['id']!r}: \"snapshot_every\" must be a whole number ≥ 0")
    return ServeJob(msg["id"], args, every)


def _id_of(line: bytes):
    """The id of a job line that was refused, when it has a usable one (else None)."""
    try:
        job_id = read_json(line).get("id")
    except BadLine:
        return None
    return job_id if isinstance(job_id, (str, int)) and not isinstance(job_id, bool) else None


class _JobToken(CancelToken):
    """One job's cancel token that also stops on the process-wide one (SIGINT/SIGTERM)."""

    def __init__(self, stop: CancelToken):
        super().__init__()
        self.stop = stop

    def check(self) -> None:
        if self.stop.cancelled:
            self.cancel(self.stop.reason)
        super().check()


class _Events:
    """The process's one event stream, written by the stdin reader (refusals, cancellations
    of waiting jobs) and by the runner (everything else): one whole line at a time.

    When the reader of stdout is gone (a closed pipe), nobody can hear a job any more:
    ``on_gone`` is called once (serve stops its jobs and ends) and later events are dropped."""

    def __init__(self, reporter, on_gone=lambda: None):
        self.reporter, self.on_gone = reporter, on_gone
        self.gone = False
        self._lock = threading.Lock()

    def emit(self, event: dict) -> None:
        head = {k: event[k] for k in ("event", "id") if k in event}  # "event" first, then the job's "id"
        event = {**head, **event}
        with self._lock:
            if self.gone:
                return
            try:
                self.reporter.emit(event)
            except (BrokenPipeError, ConnectionResetError, ValueError):  # ValueError: stdout closed here
                self.gone = True
        if self.gone:
            self.on_gone()

    def error(self, job_id, code: str, message: str) -> None:
        self.emit({**Error(code, message).to_event(), "id": job_id})

    def cancelled(self, job_id, why: str) -> None:
        self.error(job_id, "cancelled", f"{why}; nothing was written")


class JobSlot:
    """The job waiting and the job running, shared by the stdin reader (a thread) and the
    runner (the main thread). One job runs at a time: a newer job cancels the running one
    and replaces one still waiting; a cancel line names either."""

    def __init__(self, events: _Events, stop: CancelToken):
        self.events, self.stop = events, stop
        self.cond = threading.Condition()
        self.pending: ServeJob | None = None
        self.running: tuple | None = None  # (job id, token)
        self.eof = False

    # --------------------------------------------------------------- reader side
    def offer(self, line: bytes) -> None:
        """Take one stdin line: queue a job (cancelling what it replaces) or cancel one.
        A line that is not a job gets its ``error`` event, whatever is wrong with it."""
        if not line.strip():
            return
        try:
            msg = parse_line(line)
        except EngineError as exc:
            self.events.error(_id_of(line), exc.code, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in reading one line must not stop the reader
            self.events.error(None, "internal", f"the line could not be read ({type(exc).__name__}: {exc})")
            return
        with self.cond:
            if isinstance(msg, ServeJob):
                self._queue(msg)
            else:
                self._cancel(msg[1])
            self.cond.notify_all()

    def _queue(self, job: ServeJob) -> None:
        if self.pending is not None:
            self.events.cancelled(self.pending.id, f"replaced by job {job.id!r}")
        self.pending = job
        if self.running is not None:
            self.running[1].cancel(f"replaced by job {job.id!r}")

    def _cancel(self, target) -> None:
        if self.pending is not None and self.pending.id == target:
            self.events.cancelled(target, "cancelled")
            self.pending = None
        if self.running is not None and self.running[0] == target:
            self.running[1].cancel("cancelled")

    def close_input(self, why: str = "standard input closed") -> None:
        """stdin reached EOF (the parent is done or gone), or nobody reads stdout any more:
        stop the running job, drop the waiting one, and let ``take`` end serving."""
        with self.cond:
            self.eof = True
            self.cond.notify_all()
            pending, self.pending = self.pending, None
            if self.running is not None:
                self.running[1].cancel(why)
        if pending is not None:
            self.events.cancelled(pending.id, why)

    # --------------------------------------------------------------- runner side
    def take(self, reader: threading.Thread | None = None) -> tuple | None:
        """Wait for the next job: (job, its cancel token), or None when input has ended, a signal
        came, or the stdin ``reader`` is no longer running (however it ended: serving never
        outlives its input)."""
        with self.cond:
            while self.pending is None and not self.eof and not self.stop.cancelled:
                if reader is not None and not reader.is_alive():
                    self.eof = True
                    break
                self.cond.wait(0.2)
            if self.pending is None:
                return None
            job, self.pending = self.pending, None
            self.running = (job.id, _JobToken(self.stop))
            return job, self.running[1]

    def finished(self) -> None:
        with self.cond:
            self.running = None


def _read(fd: int, slot: JobSlot) -> None:
    """The stdin reader (a thread): every line to ``slot``, then EOF."""
    # os.read, not sys.stdin: see cancel.install (a daemon thread blocked in the buffered
    # reader makes interpreter shutdown abort).
    buf = b""
    try:
        while not slot.eof:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                slot.offer(line)
        if buf.strip() and not slot.eof:
            slot.offer(buf)
    except OSError:
        pass
    finally:  # whatever ended the reading, it ends serving
        slot.close_input()


class Server:
    """serve's runner: warm up, then run the jobs the stdin reader leaves in the slot, one at a time."""

    def __init__(self, reporter, common: dict, stop: CancelToken):
        """``common``: the serve command's settings every job inherits ({"model": "vgg16", ...})."""
        self.events = _Events(reporter, on_gone=lambda: self.slot.close_input("the reader of the events is gone"))
        self.slot = JobSlot(self.events, stop)
        self.stop = stop
        self.common = dict(common)
        self.common_argv = [a for name, value in self.common.items() for a in (f"--{name}", str(value))]
        self.reuse = None  # transfer.reuse.Reuse, made with the first job (importing torch takes a while)

    def run(self, fd: int) -> None:
        """Serve jobs read from ``fd`` until it reaches EOF (or SIGINT/SIGTERM)."""
        reader = threading.Thread(target=_read, args=(fd, self.slot), name="serve-stdin", daemon=True)
        reader.start()
        self.events.emit(Ready(os.getpid()).to_event())
        self.warm_up()
        while True:
            taken = self.slot.take(reader)
            if taken is None:
                return
            self.run_job(*taken)

    def warm_up(self) -> None:
        """Before the first job: import torch and load the network (with its numerics) that a
        job with the default layers uses, so that a job sent while the front end is still
        opening its dialog finds them ready. A failure here is left for that job to report."""
        try:
            req = StylizeRequest(content=None, **self.common)
            from .services import devices
            from .transfer.reuse import Reuse

            devices.set_threads(req.threads)  # as stylize() does: numerics are measured with them
            self.reuse = self.reuse or Reuse()
            if not (self.slot.eof or self.stop.cancelled):
                self.reuse.network(req, devices.pick(req.device))
        except Exception as exc:  # noqa: BLE001 - the job that needs it says what went wrong
            print(f"serve: warm-up skipped ({type(exc).__name__}: {exc})", file=sys.stderr)

    def run_job(self, job: ServeJob, token) -> None:
        """One job, start to end; whatever goes wrong becomes its ``error`` event, and serving goes on."""
        try:
            self._stylize(job, token)
        except Exception as exc:  # noqa: BLE001 - a job's failure, even a bug, is its error event; serving goes on
            error = failure(exc)
            if error.code == "internal":
                traceback.print_exc()
            self.events.error(job.id, error.code, error.message)
        finally:
            self.slot.finished()

    def _stylize(self, job: ServeJob, token) -> None:
        from .transfer import stylize
        from .transfer.reuse import Reuse

        self.reuse = self.reuse or Reuse()
        try:
            req = from_argv("stylize", [*self.common_argv, *job.args])
        except SystemExit:  # --help / --version in a job: argparse printed and wants to exit
            raise bad_input(f"job {job.id!r}: help and version options are not jobs")
        tag = {"id": job.id}
        files = _SnapshotFiles(req.output)
        try:
            result = stylize(req, lambda ev: self.events.emit({**tag, **ev.to_event()}), token, self.reuse,
                             self._snapshots(job, files))
        finally:
            files.remove()
        self.events.emit({**tag, **result.to_event(), "style_stats": {"reused": self.reuse.hits,
                                                                      "computed": self.reuse.misses}})

    def _snapshots(self, job: ServeJob, files: "_SnapshotFiles"):
        """stylize's ``snapshots`` for a job that asked for them: the picture so far, written to
        the job's snapshot file and announced by a ``snapshot`` event; else None."""
        if not job.snapshot_every:
            return None
        from .services.images import save_atomic

        def snap(progress, image):
            path = files.path()
            save_atomic(image, path)
            self.events.emit({**Snapshot(str(path), progress.scale, progress.step, progress.steps,
                                         progress.fraction).to_event(), "id": job.id})

        return job.snapshot_every, snap


class _SnapshotFiles:
    """Where one job's snapshots go: a folder made for the job beside its output
    (``SNAPSHOT_FOLDER_PREFIX``, by mkdtemp), so that a snapshot can never replace a file the
    engine did not make for this job (an input named ``<stem>-snapshot.png``, say); the folder
    goes when the job ends, with a result or without (docs/engine-protocol.md, "serve")."""

    def __init__(self, output):
        self.output = Path(output) if output is not None else None
        self.folder = None

    def path(self) -> Path:
        """The job's snapshot file (its folder made at the first snapshot, after stylize's checks)."""
        if self.folder is None:
            parent = self.output.parent if self.output is not None else None
            self.folder = Path(tempfile.mkdtemp(prefix=SNAPSHOT_FOLDER_PREFIX, dir=parent))
        stem = self.output.stem if self.output is not None else "result"
        return self.folder / (stem + SNAPSHOT_SUFFIX)

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def run(args, reporter, stop) -> int:
    """The ``serve`` command (cli.main calls it): serve until stdin ends."""
    if not isinstance(reporter, JsonReporter):
        raise bad_input("serve speaks JSON lines: add --progress json")
    common = {name: getattr(args, name) for name in COMMON if getattr(args, name) is not None}
    server = Server(reporter, common, stop)
    server.run(sys.stdin.fileno())
    # Every job has ended and written its last event: leave at once. The parent is waiting
    # (a dialog closing); tearing torch down the normal way took 7 s on a loaded 2-core CPU,
    # and there is nothing left to clean up (outputs are written atomically).
    reporter.close()
    if server.events.gone:
        print("serve: standard output was closed (the reader is gone); stopped", file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what was left for it has no reader
            pass
    os._exit(EXIT_CODES["cancelled"] if stop.cancelled else 0)


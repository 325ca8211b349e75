"""``serve``: many stylize jobs in one process (tiny random network: fast, no weights).

The Server is driven through a real pipe, as stdin would be; the reporter records the
events and, from inside the event stream, sends the next line (a newer job, a cancel),
so the timing is the protocol's own, not a sleep."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine_helpers import noise_image
from nst_contract.requests import StylizeRequest
from nst_engine import cli, stylize
from nst_engine.transfer import reuse as reuse_mod  # Reuse, and where the network is loaded
from nst_engine import serve as serve_mod
from nst_engine.serve import SNAPSHOT_FOLDER_PREFIX, SNAPSHOT_SUFFIX, Server, ServeJob, parse_line
from nst_engine.services.cancel import CancelToken


class Recorder:
    """A reporter that keeps the events and lets a test react to them (write to the pipe)."""

    def __init__(self, react=None):
        self.events, self.react = [], react

    def emit(self, event):
        json.dumps(event, allow_nan=False)  # every event must be a valid JSON line
        self.events.append(event)
        if self.react:
            self.react(event)

    def of(self, job_id):
        return [e for e in self.events if e.get("id") == job_id]


def job_line(job_id, content, style, out, *extra, snapshot_every=0):
    args = [str(content), "--style", str(style), "-o", str(out), *extra]
    return (json.dumps({"id": job_id, "args": args, "snapshot_every": snapshot_every}) + "\n").encode()


def close_after(job_id):
    """Close stdin once ``job_id`` has ended (EOF would cancel it: stdin must stay open till then)."""
    def factory(write, close):
        return lambda ev: close() if ev.get("id") == job_id and ev["event"] in ("done", "error") else None
    return factory


def serve(lines, react_factory):
    """Run a Server on a pipe: ``lines`` are written first; ``react_factory(write, close)`` may
    write more while events arrive, and closes the pipe. Returns the Recorder after EOF ended
    the server."""
    r, w = os.pipe()
    closed = []

    def write(data):
        os.write(w, data)

    def close():
        if not closed:
            closed.append(True)
            os.close(w)

    rec = Recorder(react_factory(write, close))
    server = Server(rec, [], CancelToken())
    # Written from a thread: a line larger than the pipe's buffer blocks until the server reads it.
    writer = threading.Thread(target=lambda: [write(line) for line in lines], daemon=True)
    writer.start()
    try:
        server.run(r)
    finally:
        writer.join(30)
        close()
        os.close(r)
    return rec, server


@pytest.fixture
def loads(monkeypatch):
    """The tiny network, counting how often the weights are loaded."""
    from engine_helpers import tiny_vgg
    count = []

    def load(model, weights, pooling):
        count.append(model)
        return tiny_vgg(), "tiny-random"

    monkeypatch.setattr(reuse_mod, "load_features", load)
    return count


def test_jobs_share_one_network_and_reuse_the_style_statistics(loads, images, tmp_path):
    content, style = images
    style2 = tmp_path / "style2.png"
    noise_image(64, 64, seed=11).save(style2)

    def react(write, close):
        sent = []

        def on(ev):
            if ev["event"] in ("done", "error") and ev.get("id") is not None:
                nxt = {"a": job_line("b", content, style, tmp_path / "b.png", "--iterations", "2",
                                     "--strength", "0.9"),
                       "b": job_line("c", content, style2, tmp_path / "c.png", "--iterations", "2")}.get(ev["id"])
                if nxt and ev["id"] not in sent:
                    sent.append(ev["id"])
                    write(nxt)
                elif ev["id"] == "c":
                    close()
        return on

    rec, server = serve([job_line("a", content, style, tmp_path / "a.png", "--iterations", "2")], react)
    assert rec.events[0]["event"] == "ready"
    done = {e["id"]: e for e in rec.events if e["event"] == "done"}
    assert set(done) == {"a", "b", "c"}, [e for e in rec.events if e["event"] == "error"]
    assert len(loads) == 1  # the network was loaded once for three jobs
    # a: computed; b: same style, other strength → reused; c: another style → computed
    assert done["a"]["style_stats"] == {"reused": 0, "computed": 1}
    assert done["b"]["style_stats"] == {"reused": 1, "computed": 1}
    assert done["c"]["style_stats"] == {"reused": 1, "computed": 2}
    for job_id in "abc":
        kinds = [e["event"] for e in rec.of(job_id)]
        assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
        assert (tmp_path / f"{job_id}.png").exists()
    assert all(list(e)[:2] == ["event", "id"] for e in rec.events if "id" in e)


def test_reused_statistics_give_the_same_picture(tiny_network, images, tmp_path):
    """Caching must not change results: a job in serve = the same stylize() call on its own."""
    content, style = images
    rec, _ = serve([job_line("a", content, style, tmp_path / "a.png", "--iterations", "3")], close_after("a"))
    alone = stylize(StylizeRequest(content=str(content), styles=[str(style)], iterations=3))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(alone.image))
    reuse = reuse_mod.Reuse()
    for _ in range(2):
        again = stylize(StylizeRequest(content=str(content), styles=[str(style)], iterations=3), reuse=reuse)
        assert np.array_equal(np.asarray(again.image), np.asarray(alone.image))
    assert (reuse.hits, reuse.misses) == (1, 1)


def test_a_newer_job_cancels_the_running_one(tiny_network, images, tmp_path):
    content, style = images

    def react(write, close):
        def on(ev):
            if ev.get("id") == "slow" and ev["event"] == "progress" and ev["step"] == 2:
                write(job_line("fast", content, style, tmp_path / "fast.png", "--iterations", "2"))
            if ev.get("id") == "fast" and ev["event"] in ("done", "error"):
                close()
        return on

    rec, _ = serve([job_line("slow", content, style, tmp_path / "slow.png", "--iterations", "500")], react)
    slow = rec.of("slow")
    assert slow[-1]["event"] == "error" and slow[-1]["code"] == "cancelled", slow[-1]
    assert "replaced by job 'fast'" in slow[-1]["message"]
    assert max(e.get("step", 0) for e in slow) < 10  # stopped within a step or so, not after 500
    assert not (tmp_path / "slow.png").exists()
    assert rec.of("fast")[-1]["event"] == "done"


def test_cancel_line_and_eof(tiny_network, images, tmp_path):
    content, style = images

    def react(write, close):
        def on(ev):
            if ev.get("id") == 7 and ev["event"] == "progress" and ev["step"] == 1:
                write(b'{"cancel": 7}\n')
            if ev.get("id") == 7 and ev["event"] == "error":
                close()
        return on

    rec, _ = serve([job_line(7, content, style, tmp_path / "x.png", "--iterations", "500")], react)
    assert rec.of(7)[-1]["code"] == "cancelled"
    assert not (tmp_path / "x.png").exists()


def test_eof_stops_the_running_job(tiny_network, images, tmp_path):
    content, style = images

    def react(write, close):
        def on(ev):
            if ev.get("id") == "j" and ev["event"] == "progress" and ev["step"] == 1:
                close()
        return on

    rec, _ = serve([job_line("j", content, style, tmp_path / "j.png", "--iterations", "500")], react)
    last = rec.of("j")[-1]
    assert last["code"] == "cancelled" and "standard input closed" in last["message"]


def opening_snapshots(job_id, sizes):
    """close_after(job_id), also opening every snapshot as its event arrives (as a preview does): its size to ``sizes``."""
    def factory(write, close):
        end = close_after(job_id)(write, close)

        def react(ev):
            if ev["event"] == "snapshot":
                sizes.append(Image.open(ev["path"]).size)
            end(ev)
        return react
    return factory


def leftovers(folder, *keep):
    """What is in ``folder`` besides ``keep`` (names): what a job left behind."""
    return sorted(set(os.listdir(folder)) - set(keep))


def test_snapshots_show_the_picture_so_far(tiny_network, images, tmp_path):
    content, style = images
    sizes = []
    rec, _ = serve([job_line("s", content, style, tmp_path / "s.png", "--iterations", "5", snapshot_every=2)],
                   opening_snapshots("s", sizes))
    snaps = [e for e in rec.of("s") if e["event"] == "snapshot"]
    assert [e["step"] for e in snaps] == [2, 4]  # not at the last step: that is the result itself
    path = Path(snaps[0]["path"])  # in the job's own folder beside the output
    assert path.parent.parent == tmp_path and path.parent.name.startswith(SNAPSHOT_FOLDER_PREFIX)
    assert path.name == "s" + SNAPSHOT_SUFFIX
    assert sizes == [Image.open(tmp_path / "s.png").size] * 2
    assert rec.of("s")[-1]["event"] == "done"
    assert leftovers(tmp_path, "content.png", "style.png") == ["s.png"]  # the snapshots went with the job


def test_a_snapshot_never_replaces_an_input_named_like_it(tiny_network, images, tmp_path):
    """A content called ``o-snapshot.png`` and an output ``o.png``: the snapshots go elsewhere, the content stays."""
    _, style = images
    content = tmp_path / ("o" + SNAPSHOT_SUFFIX)
    noise_image(48, 40, seed=7).save(content)
    before = content.read_bytes()
    rec, _ = serve([job_line("o", content, style, tmp_path / "o.png", "--iterations", "3", snapshot_every=1)],
                   close_after("o"))
    assert rec.of("o")[-1]["event"] == "done" and any(e["event"] == "snapshot" for e in rec.of("o"))
    assert content.read_bytes() == before
    assert leftovers(tmp_path, "content.png", "style.png", content.name) == ["o.png"]


def test_a_cancelled_job_leaves_no_snapshot_behind(tiny_network, images, tmp_path):
    content, style = images

    def react(write, close):
        def on(ev):
            if ev["event"] == "snapshot":
                write(b'{"cancel": "c"}\n')
            elif ev.get("id") == "c" and ev["event"] in ("done", "error"):
                close()
        return on

    rec, _ = serve([job_line("c", content, style, tmp_path / "c.png", "--iterations", "500", snapshot_every=1)], react)
    assert rec.of("c")[-1]["code"] == "cancelled"
    assert leftovers(tmp_path, "content.png", "style.png") == []


def test_a_preview_pyramid_shows_its_coarse_scale_first(tiny_network, images, tmp_path):
    """--coarsest 32 on a 80x64 content: a 40x32 scale, then 80x64. Snapshots come every N steps
    and at the end of the coarse scale, always at the result's size (the dialog shows them as they are)."""
    content, style = images
    sizes = []
    rec, _ = serve([job_line("p", content, style, tmp_path / "p.png", "--iterations", "4", "--coarsest", "32",
                             snapshot_every=3)], opening_snapshots("p", sizes))
    start = next(e for e in rec.of("p") if e["event"] == "start")
    assert [list(s) for s in start["scales"]] == [[40, 32], [80, 64]] and list(start["steps"]) == [2, 4]
    snaps = [(e["scale"], e["step"]) for e in rec.of("p") if e["event"] == "snapshot"]
    assert snaps == [(0, 2), (1, 3)]  # the coarse scale's end (step 2 of 2), then step 3 of 4
    assert sizes == [(80, 64)] * 2
    assert rec.of("p")[-1]["event"] == "done"


def test_bad_lines_get_errors_and_serving_goes_on(tiny_network, images, tmp_path):
    content, style = images
    rec, _ = serve([b"not json\n", b"[1, 2]\n", b'{"args": []}\n', b'{"id": "n", "args": "x"}\n',
                    b'{"id": "h", "args": ["--help"]}\n',
                    job_line("nostyle", content, tmp_path / "missing.png", tmp_path / "o.png"),
                    job_line("ok", content, style, tmp_path / "ok.png", "--iterations", "1")], close_after("ok"))
    errors = [e for e in rec.events if e["event"] == "error"]
    # The jobs before "ok" are either refused at once or replaced by the next line; each gets
    # exactly one error event, and none is silently lost.
    assert [e["code"] for e in errors if e["id"] is None] == ["bad_input"] * 3
    assert any(e["id"] == "n" and "must be a list of strings" in e["message"] for e in errors)
    for job_id in ("h", "nostyle"):
        ends = [e for e in rec.of(job_id) if e["event"] == "error"]
        assert len(ends) == 1 and ends[0]["code"] in ("bad_input", "cancelled"), ends
    assert rec.of("ok")[-1]["event"] == "done"


def test_a_deeply_nested_line_is_refused_and_serving_goes_on(tiny_network, images, tmp_path):
    """100,000 ``[`` (the json module's RecursionError), then more lines: each gets its error, the job after runs."""
    content, style = images
    rec, _ = serve([b"[" * 100_000 + b"\n", b'{"id": "deep", "args": ' + b"[" * 100_000 + b"\n",
                    b"1" * 5000 + b"\n", job_line("ok", content, style, tmp_path / "ok.png", "--iterations", "1")],
                   close_after("ok"))
    errors = [e for e in rec.events if e["event"] == "error"]
    assert [(e["id"], e["code"]) for e in errors] == [(None, "bad_input")] * 3
    assert "nested too deeply" in errors[0]["message"] and "nested too deeply" in errors[1]["message"]
    assert "not JSON" in errors[2]["message"]
    assert rec.of("ok")[-1]["event"] == "done"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the bug it stages
def test_serving_ends_when_the_stdin_reader_fails(tiny_network, monkeypatch):
    """A bug that kills the stdin reader thread still ends serve (as EOF would): it can never wait forever."""
    def broken(self, line):
        raise RuntimeError("a bug in the reader")

    monkeypatch.setattr(serve_mod.JobSlot, "offer", broken)
    monkeypatch.setattr(serve_mod.JobSlot, "close_input", lambda self, why="": None)  # not even EOF is seen
    r, w = os.pipe()
    os.write(w, b'{"cancel": 1}\n')
    rec = Recorder()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (Server(rec, {}, CancelToken()).run(r), done.set()), daemon=True)
    worker.start()
    try:
        assert done.wait(30), "serve kept waiting after its stdin reader died"
    finally:
        os.close(w)
        os.close(r)
    assert [e["event"] for e in rec.events] == ["ready"]


def test_a_closed_stdout_stops_the_job_and_ends_serving(tiny_network, images, tmp_path):
    """The reader of the events goes away mid-job: the job is cancelled, serving ends, nothing is written."""
    content, style = images

    class GoneAfterStart(Recorder):
        def emit(self, event):
            if event["event"] == "progress":
                raise BrokenPipeError(32, "Broken pipe")
            super().emit(event)

    r, w = os.pipe()
    os.write(w, job_line("j", content, style, tmp_path / "j.png", "--iterations", "500"))
    server = Server(GoneAfterStart(), {}, CancelToken())
    try:
        server.run(r)  # returns although stdin is still open
    finally:
        os.close(w)
        os.close(r)
    assert server.events.gone and not (tmp_path / "j.png").exists()
    assert [e["event"] for e in server.events.reporter.events] == ["ready", "start"]


@pytest.mark.parametrize("name, words", [("a\0b.png", "NUL byte"), ("x" * 300 + ".png", "304 bytes long")])
def test_an_output_name_no_file_can_have_is_refused_before_the_work(tiny_network, images, tmp_path, name, words):
    content, style = images
    rec, _ = serve([job_line("o", content, style, f"{tmp_path}/{name}", "--iterations", "3")], close_after("o"))
    assert [e["event"] for e in rec.of("o")] == ["error"]  # no "start": nothing was computed
    assert rec.of("o")[0]["code"] == "bad_input" and words in rec.of("o")[0]["message"]
    assert leftovers(tmp_path, "content.png", "style.png") == []


def test_parse_line():
    assert parse_line(b'{"cancel": "a"}') == ("cancel", "a")
    assert parse_line('{"id": 3, "args": ["c.png"]}') == ServeJob(3, ["c.png"], 0)
    for bad, fragment in ((b"{", "one JSON object"), (b'{"id": true, "args": []}', "needs an \"id\""),
                          (b'{"id": 1, "args": [], "snapshot_every": -1}', "snapshot_every")):
        with pytest.raises(Exception, match=fragment):
            parse_line(bad)


def test_serve_needs_json_progress():
    assert cli.main(["serve", "--progress", "none"]) == 2


@pytest.mark.slow
def test_real_weights_serve_process(shared_images, fixture_weights, tmp_path):
    """The real command with the VGG16 fixture: two jobs over one process, the second reusing
    the style's statistics; closing stdin ends the process with status 0."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "nst_engine", "serve", "--progress", "json", "--watch-stdin",
                             "--model", "vgg16", "--weights", str(fixture_weights)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    content, style = shared_images / "tubingen.jpg", shared_images / "starry_night.jpg"

    def until_end(job_id):
        events = []
        for raw in proc.stdout:
            ev = json.loads(raw)
            events.append(ev)
            if ev.get("id") == job_id and ev["event"] in ("done", "error"):
                return events
        raise AssertionError(f"the engine ended before job {job_id}: {proc.stderr.read()[-2000:]}")

    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        done = {}
        for job_id, strength in (("first", "0.5"), ("second", "0.9")):
            proc.stdin.write(job_line(job_id, content, style, tmp_path / f"{job_id}.png", "--size", "64",
                                      "--iterations", "8", "--strength", strength, snapshot_every=3))
            proc.stdin.flush()
            events = until_end(job_id)
            assert events[-1]["event"] == "done", events[-1]
            assert any(e["event"] == "snapshot" for e in events)
            done[job_id] = events[-1]
        assert done["second"]["style_stats"] == {"reused": 1, "computed": 1}
        src = np.asarray(Image.open(content).convert("RGB").resize((64, 48), Image.Resampling.LANCZOS), float)
        for job_id in done:
            assert np.abs(np.asarray(Image.open(tmp_path / f"{job_id}.png"), float) - src).mean() > 3
        proc.stdin.close()
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _serve_process(fixture_weights, repo_dir):
    return subprocess.Popen([sys.executable, "-m", "nst_engine", "serve", "--progress", "json", "--model", "vgg16",
                             "--weights", str(fixture_weights)], cwd=repo_dir,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_process_answers_a_deeply_nested_line_and_ends_at_eof(fixture_weights, repo_dir):
    """The real process: a 100,000-deep line, a line of garbage, EOF → two errors, status 0, no hang."""
    proc = _serve_process(fixture_weights, repo_dir)
    try:
        out, err = proc.communicate(b"[" * 100_000 + b"\nnot json\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0, err[-2000:]
    assert [e["event"] for e in events] == ["ready", "error", "error"]
    assert "nested too deeply" in events[1]["message"] and b"Traceback" not in err


def test_process_whose_stdout_reader_goes_away_exits_quietly(fixture_weights, repo_dir, images, tmp_path):
    """The reader closes stdout, then a job comes: serve cancels it and exits 0 with one line on stderr."""
    content, style = images
    proc = _serve_process(fixture_weights, repo_dir)
    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        proc.stdout.close()
        proc.stdin.write(job_line(1, content, style, tmp_path / "o.png", "--iterations", "300"))
        proc.stdin.flush()
        assert proc.wait(120) == 0
        err = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert err.strip().splitlines()[-1:] == ["serve: standard output was closed (the reader is gone); stopped"]
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()

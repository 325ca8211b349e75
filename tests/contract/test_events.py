"""nst_contract.events: every typed event survives to_event → JSON line → parse_event → typed;
errors keep their codes and exit statuses."""
import json

import pytest

from nst_contract import events as ev

CASES = [
    ev.Started((640, 480), (512, 384), [[256, 192], [512, 384]], [30, 50], "cpu", "vgg19", "vgg19.pth", 812.5,
               weights_source="cache", weights_sha256="dcbb9e9d", numerics={"precision": "fp32"}, tiles=[None, 256],
               note="smaller: memory"),
    ev.Progress(1, 2, (512, 384), 3, 50, 0.42, 12.5, None, {"content": 1.0, "style": 2.5}, tile=[1, 4]),
    ev.Snapshot("/tmp/o-snapshot.png", 0, 4, 8, 0.3),
    ev.Done("/tmp/o.png", 3.25, {"total": 1.5}, (512, 384)),
    ev.Ready(1234),
    ev.Error("bad_input", "style image 'x.jpg' does not exist: check the path"),
    ev.VisualizeStarted(3, [{"path": "x.txt", "reason": "not an image"}], ["relu1_1"], 9, 9, 256, "onnx", "cpu",
                        "vgg16", "w.pth", backend_note=""),
    ev.VisualizeProgress("scan", 2, 3, 0.5, 1.0, 1.0, image="/p/b.png"),
    ev.VisualizeDone("/p/p.png", "/p/p.json", 4.5, (700, 400), 3, 1, 81, "onnx"),
]


@pytest.mark.parametrize("event", CASES, ids=[type(c).__name__ for c in CASES])
def test_event_round_trip(event):
    line = json.dumps(event.to_event())
    data = ev.parse_event(line + "\n")
    assert data["event"] == type(event).KIND
    assert data.get("command") == type(event).COMMAND
    assert ev.typed(data) == event
    assert ev.typed(ev.parse_event(line.encode())) == event


def test_labels_and_totals_for_readers():
    assert ev.Progress(0, 2, (8, 8), 3, 5, 0.1, 1.0, 2.0, {}, tile=[1, 4]).to_event()["label"] == \
        "scale 1/2 step 3/5 tile 1/4"
    assert CASES[0].to_event()["total_steps"] == 80
    assert ev.VisualizeProgress("scan", 2, 3, 0.5, 1.0, 1.0, image="/p/b.png").to_event()["label"] == "scan 2/3 b.png"


def test_error_events_carry_only_code_and_message():
    assert ev.Error("bad_input", "x").to_event() == {"event": "error", "code": "bad_input", "message": "x"}
    assert ev.EngineError("disk_full", "full").to_event() == {"event": "error", "code": "disk_full",
                                                              "message": "full"}


def test_an_event_without_command_is_stylize_and_unknown_ones_stay_dicts():
    assert isinstance(ev.typed({"event": "done", "output": None, "seconds": 1, "loss": {}, "size": [1, 2]}), ev.Done)
    assert ev.typed({"event": "info", "engine": "0.1.0"}) is None


@pytest.mark.parametrize("line", ["", "hello", "{not json", "[1, 2]", '{"no_event": 1}', '{"event": 3}',
                                  b"\xff\xfe", "[" * 100000])
def test_parse_event_ignores_what_is_not_an_event(line):
    assert ev.parse_event(line) is None


def test_engine_error_codes_and_exit_statuses():
    assert ev.EXIT_CODES == {"internal": 1, "bad_input": 2, "weights_missing": 3, "out_of_memory": 4,
                             "disk_full": 5, "cancelled": 130}
    e = ev.EngineError("weights_missing", "no weights", returncode=3, stderr_tail="line")
    assert (e.code, e.message, e.exit_code, e.returncode, e.stderr_tail, str(e)) == \
        ("weights_missing", "no weights", 3, 3, "line", "no weights")
    assert ev.bad_input("x").exit_code == 2
    with pytest.raises(ValueError):
        ev.EngineError("oops", "x")


def test_parse_event():
    assert ev.parse_event('{"event": "done", "output": "x"}\n') == {"event": "done", "output": "x"}
    assert ev.parse_event(b'{"event": "start"}') == {"event": "start"}
    for junk in ("", "hello", "{broken", '{"no_event": 1}', "[1]", '{"event": 3}'):
        assert ev.parse_event(junk) is None


def test_an_event_lacking_fields_reads_them_as_none_and_keeps_what_it_has():
    partial = ev.typed({"event": "progress", "step": 3, "steps": 9, "label": "engine words"})
    assert isinstance(partial, ev.Progress) and partial.scale is None and partial.tile is None
    assert (partial.step, partial.steps, partial.label) == (3, 9, "engine words")
    assert partial.position() == ["step 3/9"]
    assert ev.typed({"event": "start", "total_steps": 340}).total_steps == 340


def test_the_progress_position_is_the_label_in_parts():
    setup = ev.Progress(3, 4, (8, 8), 0, 3, 0.5, 1.0, 65.0, {}, tile=[2, 12])
    assert setup.position() == ["scale 4/4", "setup", "tile 2/12"]
    assert setup.to_event()["label"] == "scale 4/4 setup tile 2/12"

"""The measured choice of precision and layout (numerics.py), with a tiny random network."""
import json

import pytest
import torch

from calibration_cases import GOOD, GOOD_KEY, bad_files, entry_file
from engine_helpers import tiny_vgg
from nst_contract import calibration
from nst_contract.requests import StylizeRequest
from nst_engine import stylize
from nst_engine.transfer import numerics
from nst_engine.cli import main


def row(precision, layout, seconds, note=""):
    return {"precision": precision, "layout": layout, "seconds": seconds, "note": note}


TABLE = [row("fp32", "contiguous", 1.0), row("fp32", "channels-last", 0.8),
         row("bf16", "contiguous", 0.6), row("bf16", "channels-last", 0.75)]


def test_choose_takes_the_fastest_allowed():
    assert numerics.choose(TABLE) == ("bf16", "contiguous")
    assert numerics.choose(TABLE, precision="fp32") == ("fp32", "channels-last")
    assert numerics.choose(TABLE, layout="channels-last") == ("fp32", "channels-last")  # 0.75 is not 10 % faster
    assert numerics.choose(TABLE, "bf16", "channels-last") == ("bf16", "channels-last")


def test_bf16_only_when_clearly_faster_and_fallback_when_nothing_ran():
    close = [row("fp32", "contiguous", 1.0), row("bf16", "contiguous", 0.95)]
    assert numerics.choose(close) == ("fp32", "contiguous")
    failed = [row(p, l, None, "failed") for p in numerics.PRECISIONS for l in numerics.LAYOUTS]
    assert numerics.choose(failed) == numerics.FALLBACK
    assert numerics.choose(failed, layout="channels-last") == ("fp32", "channels-last")


@pytest.fixture
def cache(tmp_path):
    return {"NST_CACHE_DIR": str(tmp_path / "cache")}


def test_measured_once_then_cached_and_remeasured_when_the_key_changes(cache, monkeypatch):
    net = tiny_vgg()
    first = numerics.resolve(net, torch.device("cpu"), "vgg16", environ=cache)
    assert first.how == "measured"
    assert {(r["precision"], r["layout"]) for r in first.table} == {
        (p, l) for p in numerics.PRECISIONS for l in numerics.LAYOUTS}
    assert first.table[0]["seconds"] > 0  # fp32, contiguous always runs
    data = json.loads(calibration.cache_path(cache).read_text())
    assert list(data["entries"]) == [first.key]
    entry = data["entries"][first.key]
    assert entry["choice"] == [first.precision, first.layout]
    assert set(entry["estimates"]) == {"draft", "balanced", "best"}

    calls = []
    real_measure = numerics.measure
    monkeypatch.setattr(numerics, "measure", lambda *a, **k: calls.append(1) or real_measure(*a, **k))
    again = numerics.resolve(tiny_vgg(), torch.device("cpu"), "vgg16", environ=cache)
    assert (again.how, again.precision, again.layout, calls) == ("cached", first.precision, first.layout, [])
    numerics.resolve(tiny_vgg(), torch.device("cpu"), "vgg16", environ=cache, fresh=True)
    assert calls == [1]
    numerics.resolve(tiny_vgg(divisor=8), torch.device("cpu"), "vgg16", environ=cache)  # another network
    assert calls == [1, 1]
    monkeypatch.setattr(numerics, "device_model", lambda device: "another CPU")
    numerics.resolve(tiny_vgg(), torch.device("cpu"), "vgg16", environ=cache)
    assert calls == [1, 1, 1]
    assert len(json.loads(calibration.cache_path(cache).read_text())["entries"]) == 3


def test_forced_choices_measure_nothing_and_a_broken_cache_is_rebuilt(cache, monkeypatch):
    monkeypatch.setattr(numerics, "measure", lambda *a, **k: pytest.fail("measured although both were forced"))
    forced = numerics.resolve(tiny_vgg(), torch.device("cpu"), "vgg16", "fp32", "channels-last", environ=cache)
    assert (forced.how, forced.layout) == ("forced", "channels-last")
    assert not calibration.cache_path(cache).exists()
    monkeypatch.undo()
    calibration.cache_path(cache).parent.mkdir(parents=True)
    calibration.cache_path(cache).write_text("{not json")
    half = numerics.resolve(tiny_vgg(), torch.device("cpu"), "vgg16", precision="fp32", environ=cache)
    assert half.how == "forced precision, measured layout" and half.precision == "fp32"
    assert half.key in json.loads(calibration.cache_path(cache).read_text())["entries"]


def test_bf16_runs_only_the_layers_and_stays_close_to_fp32():
    net = tiny_vgg()
    x = torch.rand(1, 3, 48, 64)
    layers = ["relu1_1", "relu3_1", "relu5_1"]
    ref = net(x, layers)
    numerics.set_numerics(net, "bf16", "channels-last")
    xb = x.clone().requires_grad_(True)
    low = net(xb, layers)
    sum(v.pow(2).mean() for v in low.values()).backward()
    assert all(v.dtype == torch.float32 for v in low.values())
    assert xb.grad.dtype == torch.float32
    for name in layers:
        assert torch.allclose(low[name], ref[name], rtol=0.05, atol=0.05 * ref[name].abs().max().item())


def test_start_event_says_what_was_chosen_and_why(tiny_network, images, tmp_path, monkeypatch):
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))
    content, style = images
    seen = []
    for precision in ("auto", "auto", "bf16"):
        req = StylizeRequest(content=str(content), styles=[str(style)], iterations=2, precision=precision,
                             layout="contiguous" if precision == "bf16" else "auto")
        stylize(req, lambda e: seen.append(e.to_event()) if e.to_event()["event"] == "start" else None)
    hows = [e["numerics"]["how"] for e in seen]
    assert hows == ["measured", "cached", "forced"]
    assert seen[2]["numerics"]["precision"] == "bf16"


@pytest.mark.parametrize("argv", [["--precision", "fp16"], ["--layout", "nhwc"]])
def test_unknown_choice_is_a_usage_error(argv, images, tmp_path, capsys):
    content, style = images
    code = main(["stylize", str(content), "--style", str(style), "-o", str(tmp_path / "o.png"),
                 "--progress", "json", *argv])
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 2 and event["code"] == "bad_input" and argv[0] in event["message"]
    assert not (tmp_path / "o.png").exists()


# ----------------------------------------------------------------------------- damaged caches (issue 20)

def cache_file_for(net, cache, content):
    """``content`` (a case of tests/calibration_cases.py) as the cache, its entry under ``net``'s key."""
    key = numerics.cache_key(torch.device("cpu"), net, "vgg16")
    path = calibration.cache_path(cache)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content.replace(json.dumps(GOOD_KEY)[1:-1], json.dumps(key)[1:-1]))
    return key, path


@pytest.fixture
def measured(monkeypatch):
    """numerics.measure replaced by GOOD's table (what is tested is the cache, not the timing)."""
    calls = []
    monkeypatch.setattr(numerics, "measure", lambda *a, **k: calls.append(1) or (
        [dict(r) for r in GOOD["table"]], tuple(GOOD["size"])))
    return calls


def test_a_valid_cache_case_is_used_as_it_is(cache, measured):
    net = tiny_vgg()
    key, path = cache_file_for(net, cache, entry_file(GOOD))
    got = numerics.resolve(net, torch.device("cpu"), "vgg16", environ=cache)
    assert (got.how, measured, got.step_seconds) == ("cached", [], GOOD["table"][0]["seconds"])


@pytest.mark.parametrize("name, content", bad_files(), ids=[n for n, _ in bad_files()])
def test_a_damaged_cache_is_measured_again_never_an_error(cache, measured, name, content):
    net = tiny_vgg()
    key, path = cache_file_for(net, cache, content)
    got = numerics.resolve(net, torch.device("cpu"), "vgg16", environ=cache)
    assert (got.how, measured) == ("measured", [1]), name
    assert calibration.read_entries(path)[key]["table"] == GOOD["table"]  # the cache is repaired
    again = numerics.resolve(tiny_vgg(), torch.device("cpu"), "vgg16", environ=cache)
    assert (again.how, measured) == ("cached", [1])


def test_a_run_with_a_damaged_cache_succeeds(tiny_network, images, tmp_path, monkeypatch, capsys):
    """A first run caches its calibration; its entry damaged, the next run measures again."""
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path / "cache"))
    content, style = images
    argv = ["stylize", str(content), "--style", str(style), "-o", str(tmp_path / "out.png"), "--iterations", "2",
            "--progress", "json"]
    hows = []
    for damage in (False, True):
        path = calibration.cache_path()
        if damage:
            (key, entry), = json.loads(path.read_text())["entries"].items()
            bad = {**entry, "table": [{**r, "seconds": str(r["seconds"])} for r in entry["table"]]}
            path.write_text(json.dumps({"entries": {key: bad}}))
        (tmp_path / "out.png").unlink(missing_ok=True)
        code = main(argv)
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        assert code == 0 and (tmp_path / "out.png").exists(), events[-1]
        hows.append(next(e for e in events if e["event"] == "start")["numerics"]["how"])
    assert hows == ["measured", "measured"]
    assert all(r["seconds"] is None or r["seconds"] > 0 for r in calibration.read_entries(path)[key]["table"])

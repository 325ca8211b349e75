"""nst_contract.requests: a request survives the trip through argv, and the engine's parser
is exactly what the option specs say (choices, defaults, dataclass defaults)."""
import argparse
from dataclasses import MISSING, fields

import pytest

from nst_contract import options as o
from nst_contract.events import EngineError
from nst_contract.requests import (REQUESTS, Region, StylizeRequest, VisualizeRequest, build_parser, from_argv,
                                   option_args, to_argv)

STYLIZE_CASES = [
    StylizeRequest(content="c.png", output="o.png", styles=["s.jpg"]),
    StylizeRequest(content="photo 1.png", output="out/r.png", styles=["a.jpg", "b.jpg"], style_blend=[0.7, 0.3],
                   mask="m.png", size=512, tile=256, quality="best", iterations=7, strength=0.25,
                   content_weight=2.5, style_weight=1e4, tv_weight=1e-3, content_layer="relu3_2",
                   style_layers=("relu1_1", "relu2_1"), style_layer_weights=[1.0, 0.5], style_scale=0.25,
                   preserve_color="histogram", model="vgg16", weights="/w/v.pth", pooling="avg", optimizer="adam",
                   lr=0.02, init="noise", seed=-3, pyramid=False, coarsest=128, device="cpu", threads=2,
                   precision="bf16", layout="channels-last"),
    StylizeRequest(content="c.png", output="o.png",
                   regions=[Region(["s1.png"], "m1.png"), Region(["s2.png"], r"C:\masks\m2.png", weight=0.5)]),
    StylizeRequest(content="-dash.png", output="o.png", styles=["-s.png"], strength=0.0, style_blend=[-1.0]),
]

VISUALIZE_CASES = [
    VisualizeRequest(inputs=["a.png"], output="p.png"),
    VisualizeRequest(inputs=["a.png", "folder/", "b.jpg"], output="p.png", json_output="i.json",
                     layers=("relu3_1",), units=4, unit_ids={"relu3_1": [5, 17, 40]}, top=3, size=128,
                     overlap=0.25, cell=32, gradients=True, backend="torch", model="vgg16", weights="w.pth",
                     pooling="avg", device="cpu", threads=1),
    VisualizeRequest(inputs=["-odd.png"], output="p.png"),
]


@pytest.mark.parametrize("req", STYLIZE_CASES + VISUALIZE_CASES)
def test_round_trip(req):
    command = "stylize" if isinstance(req, StylizeRequest) else "visualize"
    argv = to_argv(req)
    assert all(isinstance(a, str) for a in argv)
    assert from_argv(command, argv) == req


def test_only_what_differs_from_the_defaults_unless_asked():
    req = StylizeRequest(content="c.png", output="o.png", styles=["s.png"])
    assert to_argv(req) == ["c.png", "-o", "o.png", "--style", "s.png"]
    assert to_argv(req, always=("quality", "seed")) == ["c.png", "-o", "o.png", "--style", "s.png",
                                                        "--quality", "balanced", "--seed", "0"]


def test_what_the_command_line_cannot_say_is_refused():
    with pytest.raises(ValueError, match="bounded"):
        to_argv(StylizeRequest(content="c.png", output="o.png", bounded=False))
    with pytest.raises(ValueError, match="not a path"):
        to_argv(StylizeRequest(content=object(), output="o.png"))
    with pytest.raises(ValueError, match="--output"):
        to_argv(StylizeRequest(content="c.png"))
    with pytest.raises(ValueError, match="one mask file and one style"):
        to_argv(StylizeRequest(content="c.png", output="o.png", regions=[Region(["a", "b"], "m.png")]))


def test_usage_mistakes_are_bad_input():
    with pytest.raises(EngineError) as e:
        from_argv("stylize", ["c.png"])
    assert e.value.code == "bad_input" and "-o/--output" in e.value.message
    with pytest.raises(EngineError, match="--option=VALUE"):
        from_argv("stylize", ["c.png", "-o", "o.png", "--strength", "-inf"])
    with pytest.raises(EngineError, match="names relu1_1 twice"):
        from_argv("visualize", ["a.png", "-o", "p.png", "--unit-ids", "relu1_1=1", "--unit-ids", "relu1_1=2"])


def _actions(parser, command):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions if a.dest != "help"}


@pytest.mark.parametrize("command", list(o.COMMANDS))
def test_the_parser_offers_exactly_the_specs(command):
    actions = _actions(build_parser(), command)
    specs = o.COMMANDS[command][0]
    assert sorted(actions) == sorted(opt.name for opt in specs)
    for opt in specs:
        action = actions[opt.name]
        assert action.choices == (opt.choices if opt.enforce else None), opt.name
        assert list(action.option_strings) == list(opt.flags), opt.name
        if opt.repeat:
            assert action.default == [], opt.name
        elif not opt.positional:
            assert action.default == opt.default, opt.name


@pytest.mark.parametrize("command", list(REQUESTS))
def test_request_defaults_are_the_specs(command):
    cls = REQUESTS[command]
    specs = {opt.name: opt for opt in o.COMMANDS[command][0] if opt.in_request}
    for f in fields(cls):
        if f.name not in specs:
            assert f.name == "bounded"  # the one field not on the command line (benchmarks only)
            continue
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if default is MISSING:  # content / inputs: required
            assert specs[f.name].positional and specs[f.name].required
        elif specs[f.name].kind == "unit_ids":  # the repeated LAYER=IDS become one dict, or None
            assert default is None
        elif specs[f.name].repeat:
            assert default == []
        else:
            assert default == specs[f.name].default, f.name
    assert set(specs) <= {f.name for f in fields(cls)}


def test_parsed_defaults_are_the_dataclass_defaults():
    assert from_argv("stylize", ["c.png", "-o", "o.png"]) == StylizeRequest(content="c.png", output="o.png")
    assert from_argv("visualize", ["d/", "-o", "p.png"]) == VisualizeRequest(inputs=["d/"], output="p.png")


def test_shared_facts():
    assert o.MIN_SIDE == 32 and o.POOLINGS == ("max", "avg") and o.QUALITIES == ("draft", "balanced", "best")
    assert o.option("stylize", "pooling").choices is o.POOLINGS is o.option("visualize", "pooling").choices
    assert o.option("visualize", "size").maximum == o.MAX_SIZE


def test_option_args_say_single_options_as_the_parser_reads_them():
    args = option_args("doctor", {"model": "vgg16", "weights": "/w/-odd.pth", "device": "cpu", "threads": None})
    assert args == ["--model", "vgg16", "--weights", "/w/-odd.pth", "--device", "cpu"]
    parsed = build_parser().parse_args(["doctor", *args])
    assert (parsed.model, parsed.weights, parsed.device, parsed.threads) == ("vgg16", "/w/-odd.pth", "cpu", None)
    assert option_args("stylize", {"pyramid": False, "watch_stdin": True, "seed": -3}) == [
        "--no-pyramid", "--watch-stdin", "--seed=-3"]
    assert option_args("stylize", {"pyramid": True, "watch_stdin": False}) == []
    with pytest.raises(KeyError):
        option_args("doctor", {"strength": 0.5})
    with pytest.raises(ValueError, match="positional"):
        option_args("stylize", {"content": "c.png"})

"""nst_jobs: the dialog's settings as the engine's requests and command lines (stylize, visualize,
the preview), with the result's size decided before the engine starts."""
import dataclasses

import pytest

from plugin_helpers import cfg, job, opt, vjob
from nst_contract import options
import nst_errors
import nst_jobs


def test_argv_basics():
    argv = nst_jobs.build_argv(cfg(), job())
    assert argv[:5] == ["/venv/bin/python", "-m", "nst_engine", "stylize", "/t/content.png"]
    assert opt(argv, "--style") == "/s/style.jpg" and opt(argv, "-o") == "/t/result.png"
    assert opt(argv, "--progress") == "json" and "--watch-stdin" in argv
    assert opt(argv, "--quality") == "balanced"
    assert opt(argv, "--strength") == "0.5" and opt(argv, "--preserve-color") == "none"
    assert opt(argv, "--seed") == "0"
    # issue 14: the layer's own size is the engine's default (the content's, reduced only past its limit/memory)
    for absent in ("--size", "--mask", "--iterations", "--model", "--weights", "--device", "--threads"):
        assert absent not in argv


@pytest.mark.parametrize("preset,quality,size", [("draft", "draft", "1024"),
                                                 ("balanced", "balanced", None),
                                                 ("best", "best", None)])  # layer is 3000 px: its own size
def test_argv_presets(preset, quality, size):
    argv = nst_jobs.build_argv(cfg(), job(preset=preset, layer_size=(3000, 2000)))
    assert opt(argv, "--quality") == quality
    assert (opt(argv, "--size") if "--size" in argv else None) == size


def test_argv_options_and_config():
    argv = nst_jobs.build_argv(cfg(model="vgg16", weights="/w.pt", device="cpu", threads=2,
                                   extra_args=["--pooling", "avg"]),
                         job(mask="/t/mask.png", strength=0.8, preserve_color=True, seed=7,
                                   iterations=30, size=300, preset="draft"))
    assert opt(argv, "--mask") == "/t/mask.png"
    assert opt(argv, "--strength") == "0.8" and opt(argv, "--preserve-color") == "luminance"
    assert opt(argv, "--seed") == "7" and opt(argv, "--iterations") == "30"
    assert opt(argv, "--size") == "300"           # explicit size beats the preset's cap
    assert opt(argv, "--model") == "vgg16" and opt(argv, "--weights") == "/w.pt"
    assert opt(argv, "--device") == "cpu" and opt(argv, "--threads") == "2"
    assert argv[-2:] == ["--pooling", "avg"]


def test_argv_strength_clamped_and_bad_preset():
    assert opt(nst_jobs.build_argv(cfg(), job(strength=3)), "--strength") == "1"
    assert opt(nst_jobs.build_argv(cfg(), job(strength=-1)), "--strength") == "0"
    with pytest.raises(nst_errors.NstError):
        nst_jobs.build_argv(cfg(), job(preset="ultra"))


@pytest.mark.parametrize("w,h,size,preset,expected", [
    # issue 14: balanced and best compute the layer's own size, draft is capped at 1024 px
    (800, 600, 0, "balanced", 800), (300, 200, 0, "balanced", 300), (300, 200, 0, "draft", 300),
    (3000, 2000, 0, "best", 3000), (3000, 2000, 0, "draft", 1024), (3000, 2000, 2000, "draft", 2000),
    (300, 200, 2000, "best", 300),
    (10, 8, 0, "draft", 10), (600, 900, 100, "best", 100)])
def test_result_size(w, h, size, preset, expected):
    assert nst_jobs.result_size(w, h, size, preset) == expected


def test_a_layer_under_the_engines_smallest_side_is_refused_in_the_dialogs_words():
    """Issue 12: the smallest result side is the contract's MIN_SIDE (32 px), not 16: a 20 px
    layer is refused by the plug-in, naming the layer and what to do, not the engine's --size."""
    for size in [(20, 20), (20, 300), (5000, 20)]:
        with pytest.raises(nst_errors.NstError) as e:
            nst_jobs.build_argv(cfg(), job(layer_size=size))
        text = str(e.value)
        assert f"{size[0]} x {size[1]} px" in text and "at least 32 px" in text and "--size" not in text
    assert opt(nst_jobs.build_argv(cfg(), job(layer_size=(32, 32))), "--quality") == "balanced"


def test_a_too_small_or_capped_result_is_raised_to_the_engines_smallest_side():
    # an explicit size that would give a shorter side under 32 px: the smallest that works
    assert nst_jobs.result_size(800, 600, 20, "balanced") == 43    # 43 x 32
    assert opt(nst_jobs.build_argv(cfg(), job(size=20)), "--size") == "43"
    # draft's 1024 px cap on a long strip: raised so the strip is 32 px high
    assert nst_jobs.result_size(10000, 300, 0, "draft") == 1067
    assert nst_jobs.fit_longest(10000, 300, 1067)[1] == 32
    # the preview of such a strip keeps 32 px too (the dialog's preview is then wider)
    assert nst_jobs.preview_size(4000, 300) == (427, 32)
    p = nst_jobs.preview_job("c.png", "s.png", "o.png", nst_jobs.preview_size(4000, 300))
    assert opt(nst_jobs.stylize_args(p), "--size") == "427"


def test_engine_argv_is_shared_by_both_commands():
    c = cfg(model="vgg16", weights="/w.pt", device="cpu", threads=2)
    argv = nst_jobs.engine_argv(c, "visualize", ["/pics", "-o", "/o.png"], ["--pooling", "avg"])
    assert argv[:6] == ["/venv/bin/python", "-m", "nst_engine", "visualize", "/pics", "-o"]
    assert opt(argv, "--progress") == "json" and "--watch-stdin" in argv
    assert opt(argv, "--model") == "vgg16" and opt(argv, "--weights") == "/w.pt"
    assert opt(argv, "--device") == "cpu" and opt(argv, "--threads") == "2"
    assert argv[-2:] == ["--pooling", "avg"]


def test_visualize_argv_defaults():
    argv = nst_jobs.build_visualize_argv(cfg(extra_args=["--optimizer", "adam"]), vjob())
    assert argv[:5] == ["/venv/bin/python", "-m", "nst_engine", "visualize", "/pics"]
    assert opt(argv, "-o") == "/t/units.png" and opt(argv, "--json") == "/t/units.json"
    assert opt(argv, "--progress") == "json" and "--watch-stdin" in argv
    assert (opt(argv, "--units"), opt(argv, "--top"), opt(argv, "--size"), opt(argv, "--cell")) == \
        ("9", "9", "256", "64")
    # no --layers: the engine's default; stylize's extra_args never reach visualize
    for absent in ("--layers", "--gradients", "--optimizer", "--model", "--weights"):
        assert absent not in argv


def test_visualize_argv_options_and_config():
    c = cfg(model="vgg16", weights="/w.pt", device="cpu", threads=2,
            visualize_extra_args=["--backend", "torch"])
    argv = nst_jobs.build_visualize_argv(c, vjob(inputs=["/t/images/01-a.png", "/t/images/02-b.png"],
                                                 layers=" relu1_1, relu2_1 ;conv3_1 ", units=2, top=3,
                                                 size=64, cell=32, gradients=True))
    assert argv[4:6] == ["/t/images/01-a.png", "/t/images/02-b.png"]
    assert opt(argv, "--layers") == "relu1_1,relu2_1,conv3_1"
    assert (opt(argv, "--units"), opt(argv, "--top"), opt(argv, "--size"), opt(argv, "--cell")) == \
        ("2", "3", "64", "32")
    assert "--gradients" in argv
    assert opt(argv, "--model") == "vgg16" and opt(argv, "--threads") == "2"
    assert argv[-2:] == ["--backend", "torch"]


def test_visualize_argv_needs_inputs():
    with pytest.raises(nst_errors.NstError) as e:
        nst_jobs.build_visualize_argv(cfg(), vjob(inputs=[]))
    assert "No images to visualize" in str(e.value)


def test_normalize_layers():
    assert nst_jobs.normalize_layers("relu1_1, relu2_1") == "relu1_1,relu2_1"
    assert nst_jobs.normalize_layers(" relu1_1  relu3_1,,") == "relu1_1,relu3_1"
    assert nst_jobs.normalize_layers("") == "" and nst_jobs.normalize_layers(None) == ""


def test_preview_job_and_size():
    assert nst_jobs.preview_size(1024, 768) == (256, 192)
    assert nst_jobs.preview_size(100, 50) == (100, 50)   # small layers are not enlarged
    job = nst_jobs.preview_job("c.png", "s.png", "o.png", (256, 192), strength=0.7, seed=4)
    args = nst_jobs.stylize_args(job)
    assert opt(args, "--size") == "256" and opt(args, "--iterations") == str(nst_jobs.PREVIEW_ITERATIONS)
    assert opt(args, "--coarsest") == str(nst_jobs.PREVIEW_COARSEST)
    assert "--coarsest" not in nst_jobs.stylize_args(dataclasses.replace(job, coarsest=0))  # the engine's default
    assert opt(args, "--strength") == "0.7" and opt(args, "--seed") == "4"
    # the full run's command line is the same arguments behind the engine's prefix
    full = nst_jobs.build_argv(cfg(), job)
    assert full[3] == "stylize" and full[4:4 + len(args)] == args


def test_the_dialogs_presets_are_the_engines_qualities_each_with_its_words():
    assert tuple(nst_jobs.PRESETS) == tuple(nst_jobs.PRESET_WORDS) == options.option("stylize", "quality").choices
    for name, (label, meaning) in nst_jobs.PRESET_WORDS.items():
        assert label.lower().startswith(name) and label != name.capitalize() and meaning != name, name
    assert f"up to {nst_jobs.PRESET_CAPS['draft']} px" in nst_jobs.PRESET_WORDS["draft"][0]

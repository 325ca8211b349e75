"""stylize() behaviour with a tiny random network: fast, no weights needed."""
import hashlib

import numpy as np
import pytest
from PIL import Image

from engine_helpers import noise_image, smooth_image
from nst_contract.events import EngineError
from nst_contract.requests import Region, StylizeRequest
from nst_engine import stylize
from nst_engine.services import devices
from nst_engine.services.cancel import CancelToken
from nst_engine.transfer import memory, objective
from nst_engine.transfer.schedule import schedule


def run(content, style, tmp_path, name="out.png", **kw):
    kw.setdefault("iterations", 4)
    out = tmp_path / name
    result = stylize(StylizeRequest(content=str(content), styles=[str(style)], output=str(out), **kw))
    return np.asarray(Image.open(out)), result


def test_whole_image_changes_and_inputs_untouched(tiny_network, images, tmp_path):
    content, style = images
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in images]
    out, result = run(content, style, tmp_path)
    assert out.shape == (64, 80, 3)
    assert np.abs(out.astype(int) - np.asarray(Image.open(content)).astype(int)).mean() > 1
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in images] == before
    assert set(result.loss) == {"content", "style", "tv", "total"}


def test_outside_mask_is_bit_exact_and_soft_edge_blends(tiny_network, images, tmp_path):
    content, style = images
    mask = np.zeros((64, 80), np.uint8)
    mask[:, 40:] = 255
    mask[:, 36:40] = 128  # a soft edge
    Image.fromarray(mask, "L").save(tmp_path / "mask.png")
    out, _ = run(content, style, tmp_path, mask=str(tmp_path / "mask.png"))
    src = np.asarray(Image.open(content))
    assert np.array_equal(out[:, :36], src[:, :36])  # outside: exactly the content
    assert np.abs(out[:, 44:].astype(int) - src[:, 44:]).mean() > 2  # inside: stylised
    edge = np.abs(out[:, 36:40].astype(int) - src[:, 36:40]).mean()
    inside = np.abs(out[:, 40:].astype(int) - src[:, 40:]).mean()
    assert 0 < edge < inside  # half-way mask, about half the change


def test_several_regions_with_their_own_styles(tiny_network, images, tmp_path):
    content, style = images
    noise_image(48, 48, seed=9).save(tmp_path / "style2.png")
    left, right = np.zeros((64, 80), np.uint8), np.zeros((64, 80), np.uint8)
    left[:, :30] = 255
    right[:, 50:] = 255
    Image.fromarray(left).save(tmp_path / "left.png")
    Image.fromarray(right).save(tmp_path / "right.png")
    req = StylizeRequest(content=str(content), output=str(tmp_path / "o.png"), iterations=4, regions=[
        Region(styles=[str(style)], mask=str(tmp_path / "left.png")),
        Region(styles=[str(tmp_path / "style2.png")], mask=str(tmp_path / "right.png"), weight=2.0)])
    stylize(req)
    out, src = np.asarray(Image.open(tmp_path / "o.png")), np.asarray(Image.open(content))
    assert np.array_equal(out[:, 30:50], src[:, 30:50])
    assert np.abs(out[:, :30].astype(int) - src[:, :30]).mean() > 1
    assert np.abs(out[:, 50:].astype(int) - src[:, 50:]).mean() > 1


def test_alpha_is_kept(tiny_network, images, tmp_path):
    _, style = images
    rgba = smooth_image(80, 64).convert("RGBA")
    alpha = np.tile(np.linspace(0, 255, 80).astype(np.uint8), (64, 1))
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(tmp_path / "rgba.png")
    img = Image.open(tmp_path / "rgba.png")
    out, _ = run(tmp_path / "rgba.png", style, tmp_path)
    assert out.shape == (64, 80, 4)
    assert np.array_equal(out[..., 3], np.asarray(img)[..., 3])


def test_gray_in_gray_out_and_gray_alpha(tiny_network, images, tmp_path):
    _, style = images
    smooth_image(80, 64).convert("L").save(tmp_path / "gray.png")
    run(tmp_path / "gray.png", style, tmp_path, "g.png")
    assert Image.open(tmp_path / "g.png").mode == "L"
    smooth_image(80, 64).convert("LA").save(tmp_path / "graya.png")
    run(tmp_path / "graya.png", style, tmp_path, "ga.png")
    assert Image.open(tmp_path / "ga.png").mode == "LA"


def test_luminance_mode_keeps_content_colours(tiny_network, images, tmp_path):
    content, style = images
    plain, _ = run(content, style, tmp_path, "plain.png")
    lum, _ = run(content, style, tmp_path, "lum.png", preserve_color="luminance")
    src = np.asarray(Image.open(content)).astype(float) / 255

    def chroma(a):
        a = a.astype(float) / 255 if a.dtype == np.uint8 else a
        y = a @ np.array([0.299, 0.587, 0.114])
        return a - y[..., None]

    err_lum = np.abs(chroma(lum) - chroma(src)).mean()
    err_plain = np.abs(chroma(plain) - chroma(src)).mean()
    assert err_lum < 0.01 < err_plain


def test_histogram_mode_differs_from_plain(tiny_network, images, tmp_path):
    content, style = images
    plain, _ = run(content, style, tmp_path, "plain.png")
    hist, _ = run(content, style, tmp_path, "hist.png", preserve_color="histogram")
    assert np.abs(plain.astype(int) - hist).mean() > 0.5


def test_seed_makes_runs_repeatable(tiny_network, images, tmp_path):
    content, style = images
    a, _ = run(content, style, tmp_path, "a.png", init="noise", seed=7)
    b, _ = run(content, style, tmp_path, "b.png", init="noise", seed=7)
    c, _ = run(content, style, tmp_path, "c.png", init="noise", seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_adam_optimizer_also_lowers_the_loss(tiny_network, images, tmp_path):
    content, style = images
    events = []
    stylize(StylizeRequest(content=str(content), styles=[str(style)], optimizer="adam", iterations=15),
            events.append)
    losses = [e.loss["total"] for e in events if hasattr(e, "loss")]
    assert losses[-1] < losses[0]


def test_pyramid_schedule():
    req = StylizeRequest(content="x")
    scales, steps = schedule(req, (512, 384))
    assert (scales, steps) == ([(256, 192), (512, 384)], [30, 50])
    # Above DETAIL_SIDE (issue 14): few refining steps at the costly fine scales, halved per doubling.
    assert schedule(req, (2048, 1536)) == (
        [(256, 192), (512, 384), (1024, 768), (2048, 1536)], [30, 30, 6, 3])
    assert schedule(StylizeRequest(content="x", quality="draft"), (1024, 768))[1] == [12, 12, 2]
    assert schedule(StylizeRequest(content="x", quality="best"), (4096, 3072))[1] == [90, 90, 20, 10, 5]
    assert schedule(StylizeRequest(content="x", iterations=4), (2048, 1536))[1] == [2, 2, 6, 4]
    req.pyramid = False
    assert schedule(req, (512, 384)) == ([(512, 384)], [300])
    # Under twice the coarsest side there is nothing to gain from a pyramid.
    assert schedule(StylizeRequest(content="x"), (500, 300)) == ([(500, 300)], [50])
    # A preview starts lower (--coarsest): a first picture sooner.
    assert schedule(StylizeRequest(content="x", coarsest=128, iterations=8), (256, 192)) == (
        [(128, 96), (256, 192)], [5, 8])



def test_the_pyramid_of_an_elongated_result_stops_at_the_networks_smallest_side():
    """Halving 40x4000 towards --coarsest would reach 5x500 (the network cannot take it): the shorter
    side limits the pyramid, in both orientations."""
    req = StylizeRequest(content="x")
    assert schedule(req, (40, 4000))[0] == [(40, 4000)]
    assert schedule(req, (4000, 40))[0] == [(4000, 40)]
    assert schedule(req, (64, 4000))[0] == [(32, 2000), (64, 4000)]
    assert schedule(req, (4000, 130))[0] == [(1000, 32), (2000, 65), (4000, 130)]
    with pytest.raises(EngineError, match="give at most 1"):
        schedule(req, (40, 4000), scale_iterations=[2, 2])


@pytest.mark.parametrize("size", [(40, 1000), (1000, 40)])
def test_an_elongated_image_is_stylised(size, tiny_network, tmp_path):
    content, style = tmp_path / "strip.png", tmp_path / "style.png"
    smooth_image(*size).save(content)
    noise_image(64, 64, seed=3).save(style)
    events = []
    result = stylize(StylizeRequest(content=str(content), styles=[str(style)], output=str(tmp_path / "o.png"),
                                    iterations=2, style_scale=0.1), events.append)
    assert result.size == size and all(min(s) >= 32 for s in events[0].scales)
    assert Image.open(tmp_path / "o.png").size == size


def test_a_callers_own_schedule_replaces_the_qualitys(tiny_network, images):
    """stylize(scale_iterations=...): the per-scale iterations benchmarks/schedules.py compares,
    one scale per entry (each half the next, the last at the result's size); checked like the rest."""
    content, style = images
    req = StylizeRequest(content=str(content), styles=[str(style)])  # 80x64
    assert schedule(req, (80, 64), [3, 2]) == ([(40, 32), (80, 64)], [3, 2])
    events = []
    stylize(req, events.append, scale_iterations=[3, 2])
    assert (events[0].scales, events[0].steps) == ([(40, 32), (80, 64)], [3, 2])
    assert [(e.scale, e.step) for e in events[1:]] == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2)]
    for bad in ([], [2, 0], "3,2"):
        with pytest.raises(EngineError) as err:
            stylize(req, scale_iterations=bad)
        assert err.value.code == "bad_input" and "scale_iterations" in err.value.message

def test_progress_events_cover_the_job(tiny_network, images, tmp_path):
    content, style = images
    events = []
    stylize(StylizeRequest(content=str(content), styles=[str(style)], size=512, iterations=3), events.append)
    start, progress = events[0], events[1:]
    assert start.scales == [(256, 205), (512, 410)] and start.steps == [2, 3]
    assert len(progress) == sum(start.steps)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert {p.scale for p in progress} == {0, 1}


def test_cancel_writes_nothing(tiny_network, images, tmp_path):
    content, style = images
    token = CancelToken()

    def on_progress(event):
        if getattr(event, "step", 0) == 2:
            token.cancel("test")

    with pytest.raises(EngineError) as err:
        stylize(StylizeRequest(content=str(content), styles=[str(style)], output=str(tmp_path / "o.png"),
                               iterations=10), on_progress, token)
    assert err.value.code == "cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content.png", "style.png"]


def test_memory_refusal_names_a_size_that_fits(tiny_network, images, tmp_path, monkeypatch):
    content, style = images
    monkeypatch.setattr(devices, "available_bytes", lambda device: memory.OVERHEAD + 300 * 2**20)
    with pytest.raises(EngineError) as err:
        stylize(StylizeRequest(content=str(content), styles=[str(style)], size=8000))
    assert err.value.code == "out_of_memory"
    assert "--size" in err.value.message
    size = int(err.value.message.split("--size ")[1].split()[0])
    assert 32 < size < 8000
    stylize(StylizeRequest(content=str(content), styles=[str(style)], size=size, iterations=1))  # it fits


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_every_step_sees_an_image_in_range(tiny_network, images, monkeypatch, optimizer):
    """The optimiser works on a savable image (pixels in [0, 1]) at every step; the classic
    unbounded run (bounded=False, the benchmark's reference) does leave the range, so the
    check can fail."""
    content, style = images
    seen = {}
    call = objective.Objective.__call__

    def spy(self, image):
        seen.setdefault(bounded, []).append((float(image.detach().min()), float(image.detach().max())))
        return call(self, image)

    monkeypatch.setattr(objective.Objective, "__call__", spy)
    for bounded in (True, False):
        stylize(StylizeRequest(content=str(content), styles=[str(style)], iterations=15, style_weight=1e4,
                               optimizer=optimizer, lr=0.2 if optimizer == "adam" else None, bounded=bounded))
    lo, hi = min(m for m, _ in seen[True]), max(m for _, m in seen[True])
    assert 0 <= lo and hi <= 1
    assert min(m for m, _ in seen[False]) < 0 or max(m for _, m in seen[False]) > 1

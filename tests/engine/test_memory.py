"""memory.py: the guard's estimate follows the measured peaks' shape, and the guard tiles only
what does not fit (VGG shapes on the meta device: no weights, instant; one real run for the RSS)."""
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from nst_contract.requests import StylizeRequest
from nst_engine.services import devices
from nst_engine.services.vgg import VGGFeatures, architecture
from nst_engine.transfer import budget, memory, schedule

REQ = StylizeRequest(content="x", styles=["y"])


def _net(model):
    return VGGFeatures(architecture(model)).truncate([REQ.content_layer, *REQ.style_layers])


def _variable(net, hw, history=3):
    """The part of the estimate that depends on the image: all but the runtime and the weights."""
    fixed = memory.OVERHEAD + memory.BYTES * sum(p.numel() for p in net.parameters())
    return memory.estimate_bytes(net, hw, [hw], history) - fixed


@pytest.mark.parametrize("model", ["vgg16", "vgg19"])
def test_estimate_above_the_runtime_scales_with_the_pixels(model):
    net = _net(model)
    small, large = _variable(net, (768, 1024)), _variable(net, (1536, 2048))
    # measured peaks above the runtime (VGG16): 3.8 GB at 1536 px, 6.6 GB at 2048 px, ×1.75 for ×1.78 the pixels
    assert large / small == pytest.approx(4.0, rel=0.02)
    assert _variable(net, (1152, 1536)) / small == pytest.approx(2.25, rel=0.02)


def test_estimate_is_the_activations_times_the_fitted_factor():
    net = _net("vgg19")
    hw = (1536, 2048)
    activations = memory.BYTES * memory.activation_elements(net, *hw)[0]
    ratio = _variable(net, hw, history=0) / activations
    # the factor, plus the working images (a few % of the activations)
    assert memory.ACTIVATION_FACTOR <= ratio < memory.ACTIVATION_FACTOR + 0.1


def test_guard_keeps_a_2048_job_whole_when_it_fits_and_tiles_it_when_not():
    net = _net("vgg19")
    req = StylizeRequest(content="x", styles=["y"])
    regions = [SimpleNamespace(styles=[SimpleNamespace(size=(2048, 1536))])]
    hws = schedule.style_sizes(regions, req.style_scale, 2048)
    tile, need = budget.scale_need(net, req, (2048, 1536), 3, hws, 16 * 2**30)
    assert tile is None and need < devices.HEADROOM * 16 * 2**30  # 23 GiB machines ran this whole (issue 14)
    tile, need = budget.scale_need(net, req, (2048, 1536), 3, hws, 6 * 2**30)
    assert tile is not None and need < devices.HEADROOM * 6 * 2**30


CHILD = """
import json, resource, sys
from nst_contract.requests import StylizeRequest
from nst_engine import stylize
from nst_engine.services import devices
devices.available_bytes = lambda device: None  # the whole image in one pass, whatever it needs
events = []
stylize(StylizeRequest(content=sys.argv[1], styles=[sys.argv[2]], size=int(sys.argv[3]), iterations=2,
                       pyramid=False, model="vgg16", weights=sys.argv[4], precision="fp32",
                       layout="contiguous"), events.append)
print(json.dumps({"estimate_mb": events[0].memory_estimate_mb, "tiles": events[0].tiles,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_estimate_covers_a_real_whole_image_runs_peak_rss_without_doubling_it(fixture_weights, shared_images,
                                                                                repo_dir):
    """A fresh process (its own peak): 768 px, real VGG16 weights, two L-BFGS steps."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(shared_images / "tubingen.jpg"),
                          str(shared_images / "starry_night.jpg"), "768", str(fixture_weights)],
                         capture_output=True, text=True, cwd=repo_dir, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["tiles"] == [None]
    assert row["peak_mb"] < row["estimate_mb"] < 1.5 * row["peak_mb"], row


class _Started(Exception):
    """Raised at the start event: the guard let the job through (nothing is computed)."""


def _guard(size, shared_images, monkeypatch):
    """What the memory guard says of a --size job with 1.5 GiB free (VGG19 shapes): None when it
    lets it through, else the --size it suggests."""
    from nst_contract.events import EngineError
    from nst_engine import stylize
    from nst_engine.transfer import reuse

    monkeypatch.setattr(devices, "available_bytes", lambda device: int(1.5 * 2**30))
    net = VGGFeatures(architecture("vgg19").to_empty(device="cpu"))  # uninitialised: only its shapes count
    monkeypatch.setattr(reuse, "load_features", lambda model, weights, pooling: (net, "shapes"))
    req = StylizeRequest(content=str(shared_images / "tubingen.jpg"), styles=[str(shared_images / "starry_night.jpg")],
                         size=size)
    try:
        stylize(req, lambda event: (_ for _ in ()).throw(_Started()))
    except _Started:
        return None
    except EngineError as exc:
        assert exc.code == "out_of_memory", exc.message
        return int(exc.message.split("about --size ")[1].split()[0])
    raise AssertionError("neither started nor refused")


def test_the_suggested_size_is_the_largest_that_fits_whatever_was_asked(shared_images, monkeypatch):
    """Issue 20: with 1.5 GiB free, --size 3000 suggested 1488 and --size 1489 suggested 1123."""
    seen = {}

    def guard(size):
        if size not in seen:
            seen[size] = _guard(size, shared_images, monkeypatch)
        return seen[size]

    best = guard(3000)
    assert best is not None and guard(best) is None  # the suggestion fits
    for asked in (best + 1, best + 2, (best + 3000) // 2):
        assert guard(asked) == best
    # Sizes asked in the need's gaps (it is not monotone in the side): the largest below each that fits.
    gaps = [s for s in range(best - 1, 400, -8) if guard(s) is not None][:3]
    assert gaps, "no gap below the largest size that fits: the case no longer tests anything"
    for asked in gaps:
        suggestion = guard(asked)
        assert suggestion < asked and guard(suggestion) is None
        assert all(guard(s) is not None for s in range(suggestion + 1, asked + 1)), (asked, suggestion)

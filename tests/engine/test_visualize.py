"""visualize: receptive fields, non-maximum suppression, the picture/JSON contract, real-weights patches, CLI."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models.vgg import cfgs, make_layers

from nst_engine.services import images as images_mod
from nst_engine import visualize as vis
from nst_engine.visualize import pipeline as vis_run
from nst_engine.services.cancel import CancelToken
from nst_contract.events import EngineError
from nst_contract.options import DEFAULT_LAYERS
from nst_contract.requests import VisualizeRequest
from nst_engine.services.cancel import RunCancelled
from nst_engine.services.vgg import LayerInfo, VGGFeatures
from nst_engine.services.weights import load_features

REPO = Path(__file__).resolve().parents[2]


def tiny(seed=0, pooling="max", positive=False, dtype=torch.float32, divisor=16) -> VGGFeatures:
    """VGG16's layout (same layer names and geometry) with few channels and random weights."""
    torch.manual_seed(seed)
    cfg = [v if v == "M" else max(2, v // divisor) for v in cfgs["D"]]
    net = VGGFeatures(make_layers(cfg), pooling)
    if positive:  # every pre-activation > 0: ReLU is the identity, every input pixel reaches the unit
        for m in net.layers:
            if isinstance(m, torch.nn.Conv2d):
                m.weight.data.uniform_(0.01, 0.05)
                m.bias.data.fill_(10.0)
    return net.to(dtype)


def photo(w, h, seed=0) -> Image.Image:
    """Structured, not noise: gradients, stripes and a disc, so units have something to prefer."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.random(3) * 6
    r = 0.5 + 0.5 * np.sin(x / (5 + a[0]) + a[1])
    g = 0.5 + 0.5 * np.cos((x + y) / (7 + a[2]))
    b = ((x - w * 0.6) ** 2 + (y - h * 0.4) ** 2 < (min(w, h) / 4) ** 2).astype(np.float32)
    arr = np.stack([r, g, 0.3 + 0.6 * b], -1)
    return Image.fromarray((arr * 255).astype(np.uint8), "RGB")


# ----------------------------------------------------------------------------- receptive fields


@pytest.mark.parametrize("layer,positions", [
    ("relu1_1", [(0, 0), (10, 17), (47, 39)]),
    ("relu2_1", [(0, 0), (5, 9), (23, 19)]),
    ("relu3_1", [(0, 0), (6, 4), (11, 9), (0, 9)]),
    ("relu4_1", [(0, 0), (2, 3), (5, 4)]),
])
def test_field_is_exactly_the_gradient_support(layer, positions):
    """Average pooling, all-positive net: the unit depends on every pixel of its field and on no other."""
    net = tiny(positive=True, pooling="avg", dtype=torch.float64).truncate([layer])
    info = net.layer_info()[layer]
    h, w = 48, 40
    x = torch.rand(1, 3, h, w, dtype=torch.float64, requires_grad=True)
    act = net(x, [layer])[layer]
    for row, col in positions:
        (g,) = torch.autograd.grad(act[0, 0, row, col], x, retain_graph=True)
        ys, xs = torch.nonzero(g[0].abs().sum(0) > 0, as_tuple=True)
        support = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        assert support == vis.field_box(info, row, col, w, h), (layer, row, col)
        assert bool((g[0].abs().sum(0) > 0)[support[1]:support[3], support[0]:support[2]].all())


@pytest.mark.parametrize("layer", ["relu2_1", "relu3_1", "relu4_1"])
def test_pixel_inside_changes_unit_outside_does_not(layer):
    """Max pooling: a big change just inside each edge of the field moves the unit; just outside, nothing."""
    net = tiny(positive=True, dtype=torch.float64).truncate([layer])
    info = net.layer_info()[layer]
    h, w = 64, 56
    x = torch.rand(1, 3, h, w, dtype=torch.float64)
    base = net(x, [layer])[layer]
    rows, cols = base.shape[-2:]
    for row, col in [(rows // 2, cols // 2), (1, cols - 2)]:
        x0, y0, x1, y1 = vis.field_box(info, row, col, w, h)
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        inside = [(y0, cx), (y1 - 1, cx), (cy, x0), (cy, x1 - 1)]
        outside = [(yy, xx) for yy, xx in [(y0 - 1, cx), (y1, cx), (cy, x0 - 1), (cy, x1)] if 0 <= yy < h and 0 <= xx < w]
        assert outside, "choose positions whose field is not clipped on every side"
        ref = float(base[0, 0, row, col])
        for yy, xx in inside + outside:
            z = x.clone()
            z[0, :, yy, xx] += 1e6
            got = float(net(z, [layer])[layer][0, 0, row, col])
            if (yy, xx) in inside:
                assert got > ref * (1 + 1e-6), (layer, row, col, yy, xx)
            else:
                assert got == pytest.approx(ref, rel=1e-12), (layer, row, col, yy, xx)


@pytest.mark.parametrize("layer", ["relu2_1", "relu3_1", "relu4_1"])
def test_field_crop_reproduces_every_position(layer):
    """The crop alone (with noise outside the field) gives the full image's activation, borders included."""
    net = tiny(seed=1, dtype=torch.float64).truncate([layer])
    info = net.layer_info()[layer]
    h, w = 58, 75  # not multiples of the stride
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, h, w, dtype=torch.float64, generator=gen)
    full = net(x, [layer])[layer][0]
    rows, cols = full.shape[1:]
    # every position near the borders (where clipping and padding matter), a sample inside
    for row in sorted({*range(0, rows, 5), *range(max(0, rows - 3), rows)}):
        for col in sorted({*range(0, cols, 5), *range(max(0, cols - 3), cols)}):
            (cx0, cy0, cx1, cy1), (r, c) = vis.field_crop(info, row, col, w, h)
            bx0, by0, bx1, by1 = vis.field_box(info, row, col, w, h)
            crop = torch.rand(1, 3, cy1 - cy0, cx1 - cx0, dtype=torch.float64, generator=gen)
            crop[..., by0 - cy0:by1 - cy0, bx0 - cx0:bx1 - cx0] = x[..., by0:by1, bx0:bx1]
            got = net(crop, [layer])[layer][0, :, r, c]
            torch.testing.assert_close(got, full[:, row, col], rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- suppression


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_image_top_is_greedy_nms():
    net = tiny().truncate(["relu3_1"])
    info = net.layer_info()["relu3_1"]
    h, w = 60, 44
    act = torch.rand(5, math.floor(h / 4), math.floor(w / 4), generator=torch.Generator().manual_seed(2))
    k, overlap = 6, 0.3
    vals, rows, cols = vis.image_top(act, info, w, h, k, overlap)
    for unit in range(act.shape[0]):
        # brute force greedy over all positions
        order = sorted(((float(act[unit, r, c]), r, c) for r in range(act.shape[1]) for c in range(act.shape[2])),
                       reverse=True)
        taken = []
        for v, r, c in order:
            box = vis.field_box(info, r, c, w, h)
            if all(_iou(box, tb) <= overlap for _, _, _, tb in taken):
                taken.append((v, r, c, box))
            if len(taken) == k:
                break
        got = [(float(vals[unit, j]), int(rows[unit, j]), int(cols[unit, j])) for j in range(k)
               if math.isfinite(vals[unit, j])]
        assert got == [(v, r, c) for v, r, c, _ in taken]


# ----------------------------------------------------------------------------- whole runs on the tiny net


@pytest.fixture
def tiny_loaded(monkeypatch):
    monkeypatch.setattr(vis_run, "load_features",
                        lambda model, weights, pooling: (tiny(seed=3, pooling=pooling), "tiny"))


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "pics"
    d.mkdir()
    for i, (w, h) in enumerate([(90, 70), (64, 96), (120, 80)]):
        photo(w, h, seed=i).save(d / f"p{i}.png")
    (d / "broken.jpg").write_bytes(b"not a jpeg at all")
    (d / "notes.txt").write_text("ignored: not an image extension")
    photo(20, 20).save(d / "tiny.png")
    return d


def test_tiny_run_picture_and_json_agree(tiny_loaded, folder, tmp_path):
    out = tmp_path / "units.png"
    events = []
    req = VisualizeRequest(inputs=[folder], output=out, layers=("relu1_1", "relu3_1", "relu4_1"),
                               units=3, top=4, size=96, cell=32, backend="torch", model="vgg16")
    res = vis.visualize(req, events.append)
    index = json.loads(out.with_suffix(".json").read_text())
    picture = Image.open(out)
    assert picture.size == tuple(index["picture_size"]) == res.image.size
    assert [e.to_event()["event"] for e in events][0] == "start"
    assert [e.stage for e in events[1:4]] == ["scan"] * 3 and events[-1].fraction == 1.0
    fractions = [e.fraction for e in events[1:]]
    assert fractions == sorted(fractions)
    assert {s["path"].split("/")[-1] for s in index["skipped"]} == {"broken.jpg", "tiny.png"}
    assert [Path(i["path"]).name for i in index["images"]] == ["p0.png", "p1.png", "p2.png"]
    assert index["images"][2]["scan_size"] == [96, 64] and index["images"][2]["original_size"] == [120, 80]
    net = tiny(seed=3).truncate(["relu4_1"])
    scans = [images_mod.resize(Image.open(i["path"]).convert("RGB"), tuple(i["scan_size"])) for i in index["images"]]
    acts = [net(images_mod.to_tensor(s), ["relu1_1", "relu3_1", "relu4_1"]) for s in scans]
    blocks = []
    for layer in index["layers"]:
        assert layer["units_chosen_by"] == "mean" and len(layer["units"]) == 3
        x0, y0, x1, y1 = layer["block"]
        blocks.append((y0, y1))
        all_pos = torch.cat([a[layer["layer"]][0].flatten(1) for a in acts], 1)
        expected_units = vis.choose_units(all_pos.double().mean(1), 3)
        assert [u["unit"] for u in layer["units"]] == expected_units
        for u in layer["units"]:
            assert u["mean_activation"] == pytest.approx(float(all_pos[u["unit"]].double().mean()), rel=1e-5)
            acts_u = [p["activation"] for p in u["patches"]]
            assert acts_u == sorted(acts_u, reverse=True) and len(acts_u) == 4
            assert acts_u[0] == pytest.approx(float(all_pos[u["unit"]].max()), rel=1e-5)
            for rank, p in enumerate(u["patches"]):
                assert (p["rank"], p["layer"], p["unit"]) == (rank, layer["layer"], u["unit"])
                img = index["images"][p["image_index"]]
                assert img["path"] == p["image"]
                bx0, by0, bx1, by1 = p["box"]
                assert 0 <= bx0 < bx1 <= img["scan_size"][0] and 0 <= by0 < by1 <= img["scan_size"][1]
                assert p["box"] == list(vis.field_box(LayerInfo(layer["layer"], 0, layer["stride"], layer["field"],
                                                                    layer["offset"]), *p["position"], *img["scan_size"]))
                cx0, cy0, cx1, cy1 = p["cell"]
                assert cx1 - cx0 == cy1 - cy0 == 32 and y0 <= cy0 and cy1 <= y1 and cx1 <= picture.width
                r, c = p["position"]
                assert p["activation"] == pytest.approx(float(acts[p["image_index"]][layer["layer"]][0, u["unit"], r, c]),
                                                        rel=1e-5)
                # the cell shows the patch at the layer's scale (cell / field) on gray: compare mean colours
                cell_px = np.asarray(picture.crop(tuple(p["cell"])), dtype=np.float64).reshape(-1, 3)
                patch = np.asarray(scans[p["image_index"]].crop(tuple(p["box"])), dtype=np.float64).reshape(-1, 3)
                scale = 32 / layer["field"]
                shown = min(32, max(1, round((bx1 - bx0) * scale))) * min(32, max(1, round((by1 - by0) * scale)))
                expected = (patch.mean(0) * shown + 96.0 * (32 * 32 - shown)) / (32 * 32)
                assert np.abs(cell_px.mean(0) - expected).max() < 12, (p, cell_px.mean(0), expected)
            # patches of one unit from one image do not overlap by more than the allowed IoU
            for i, a in enumerate(u["patches"]):
                for b in u["patches"][i + 1:]:
                    if a["image_index"] == b["image_index"]:
                        assert _iou(a["box"], b["box"]) <= 0.5
    assert blocks == sorted(blocks) and all(a[1] <= b[0] for a, b in zip(blocks, blocks[1:]))
    assert len(res.patches) == 3 * 3 * 4 and res.to_event()["patches"] == 36


def test_onnx_and_torch_backends_agree(tiny_loaded, folder):
    base = dict(inputs=[folder], layers=("relu2_1", "relu3_1"), units=2, top=3, size=80, model="vgg16")
    a = vis.visualize(VisualizeRequest(**base, backend="torch"))
    b = vis.visualize(VisualizeRequest(**base, backend="onnx"))
    assert (a.backend, b.backend) == ("torch", "onnx")
    key = lambda p: (p.layer, p.unit, p.rank, p.image_index, tuple(p.position))  # noqa: E731
    assert [key(p) for p in a.patches] == [key(p) for p in b.patches]
    for p, q in zip(a.patches, b.patches):
        assert p.activation == pytest.approx(q.activation, rel=1e-4, abs=1e-5)


def test_unit_ids_gradients_and_cancel(tiny_loaded, folder, tmp_path):
    out = tmp_path / "g.png"
    res = vis.visualize(VisualizeRequest(inputs=[folder / "p0.png", folder / "p2.png"], output=out,
                                             json_output=tmp_path / "idx.json", layers=("relu2_1",),
                                             unit_ids={"relu2_1": [5, 1]}, top=2, size=64, cell=24,
                                             gradients=True, backend="torch", model="vgg16"))
    index = json.loads((tmp_path / "idx.json").read_text())
    assert [u["unit"] for u in index["layers"][0]["units"]] == [5, 1]
    assert index["layers"][0]["units_chosen_by"] == "given" and index["gradients"] is True
    for p in res.patches:
        gx0, gy0, gx1, gy1 = p.gradient_cell
        assert gx0 >= p.cell[2] and gy0 == p.cell[1] and gx1 - gx0 == 24
    with pytest.raises(EngineError, match="do not exist"):
        vis.visualize(VisualizeRequest(inputs=[folder], layers=("relu2_1",), unit_ids={"relu2_1": [999]},
                                           model="vgg16", backend="torch"))
    token = CancelToken()

    def stop(event):
        if getattr(event, "stage", None) == "scan":
            token.cancel("test")

    out2 = tmp_path / "never.png"
    with pytest.raises(RunCancelled):
        vis.visualize(VisualizeRequest(inputs=[folder], output=out2, layers=("relu1_1",), size=64,
                                           backend="torch", model="vgg16"), stop, token)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["g.png", "idx.json", "pics"])


@pytest.mark.parametrize("kwargs,match", [
    (dict(layers=("relu9_9",)), "unknown layer"),
    (dict(units=0), "--units"),
    (dict(top=1000), "--top"),
    (dict(size=8), "--size"),
    (dict(overlap=1.5), "--overlap"),
    (dict(unit_ids={"relu2_1": [1]}), "not in --layers"),
    (dict(output="/nonexistent-folder/x.png"), "does not exist"),
    (dict(output="x.jpg"), "PNG"),
    (dict(inputs=["/nonexistent/pic.png"]), "does not exist"),
    (dict(inputs=[]), "no input"),
    (dict(backend="tensorrt"), "--backend"),
])
def test_bad_requests(tiny_loaded, folder, tmp_path, kwargs, match):
    base = dict(inputs=[folder], layers=("relu1_1",), model="vgg16")
    base.update(kwargs)
    if "output" in base and not base["output"].startswith("/"):
        base["output"] = tmp_path / base["output"]
    with pytest.raises(EngineError, match=match) as err:
        vis.visualize(VisualizeRequest(**base))
    assert err.value.code == "bad_input"


def test_no_usable_images_says_why(tiny_loaded, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(EngineError, match=r"(?s)no usable images.*bad\.png"):
        vis.visualize(VisualizeRequest(inputs=[tmp_path], model="vgg16"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EngineError, match="no usable images found in .*empty"):
        vis.visualize(VisualizeRequest(inputs=[empty], model="vgg16"))


def test_image_bomb_and_special_files_are_skipped_like_unreadable_ones(tmp_path):
    from engine_helpers import declared_png, smooth_image

    smooth_image(64, 48).save(tmp_path / "good.png")
    declared_png(tmp_path / "bomb.png", 30000, 30000)
    (tmp_path / "truncated.png").write_bytes(b"\x89PNG broken")
    sources, skipped = vis.collect([tmp_path], 64)
    assert [s.path for s in sources] == [str(tmp_path / "good.png")]
    reasons = {Path(s["path"]).name: s["reason"] for s in skipped}
    assert set(reasons) == {"bomb.png", "truncated.png"}
    assert "too large to open safely" in reasons["bomb.png"]


# ----------------------------------------------------------------------------- real weights


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, fixture_weights, shared_images):
    from skimage import data

    d = tmp_path_factory.mktemp("real")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        Image.fromarray(getattr(data, name)()).save(d / f"{name}.png")
    out = d / "out" / "units.png"
    out.parent.mkdir()
    res = vis.visualize(VisualizeRequest(inputs=[shared_images, d], output=out, units=2, top=3, size=96,
                                             model="vgg16", weights=fixture_weights, backend="auto"))
    net, _ = load_features("vgg16", fixture_weights)
    net.truncate(list(DEFAULT_LAYERS))
    return res, json.loads(out.with_suffix(".json").read_text()), net


def test_real_patches_hold_their_activation(real_run, fixture_weights):
    """Each patch, cut out (aligned crop, noise outside the field), gives the recorded activation in torch."""
    res, index, net = real_run
    assert len(index["images"]) == 8 and res.backend == "onnx"
    info = net.layer_info()
    scans = [images_mod.resize(images_mod.split(images_mod.open_image(i["path"], "x")).rgb, tuple(i["scan_size"]))
             for i in index["images"]]
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for layer in index["layers"]:
        name = layer["layer"]
        peak = max(p["activation"] for u in layer["units"] for p in u["patches"])
        for u in layer["units"]:
            assert len(u["patches"]) == 3
            for p in u["patches"]:
                rgb = scans[p["image_index"]]
                (cx0, cy0, cx1, cy1), (r, c) = vis.field_crop(info[name], *p["position"], *rgb.size)
                bx0, by0, bx1, by1 = p["box"]
                crop = torch.rand(1, 3, cy1 - cy0, cx1 - cx0, generator=gen)
                crop[..., by0 - cy0:by1 - cy0, bx0 - cx0:bx1 - cx0] = images_mod.to_tensor(rgb.crop(tuple(p["box"])))
                with torch.no_grad():
                    got = float(net(crop, [name])[name][0, p["unit"], r, c])
                assert got == pytest.approx(p["activation"], rel=1e-3, abs=1e-4 * peak), (name, p)
                checked += 1
    assert checked == 5 * 2 * 3


def test_real_top_patch_is_the_global_maximum(real_run, fixture_weights):
    res, index, net = real_run
    layers = list(DEFAULT_LAYERS)
    maxima = {name: None for name in layers}
    with torch.no_grad():
        for i in index["images"]:
            rgb = images_mod.resize(images_mod.split(images_mod.open_image(i["path"], "x")).rgb, tuple(i["scan_size"]))
            out = net(images_mod.to_tensor(rgb), layers)
            for name in layers:
                m = out[name][0].flatten(1).max(1).values
                maxima[name] = m if maxima[name] is None else torch.maximum(maxima[name], m)
    for layer in index["layers"]:
        for u in layer["units"]:
            assert u["patches"][0]["activation"] == pytest.approx(float(maxima[layer["layer"]][u["unit"]]), rel=1e-4)
    # deep layers see bigger fields: relu5_1's patches are larger than relu1_1's
    assert [layer["field"] for layer in index["layers"]] == sorted(layer["field"] for layer in index["layers"])


# ----------------------------------------------------------------------------- the real command line


def _cli(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "nst_engine", "visualize", *args, "--progress", "json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc, events


def test_cli_success(fixture_weights, folder, tmp_path):
    out = tmp_path / "cli.png"
    proc, events = _cli(str(folder / "p0.png"), str(folder), "-o", str(out), "--layers", "relu1_1,relu3_1",
                        "--units", "2", "--top", "2", "--size", "64", "--model", "vgg16", "--weights",
                        str(fixture_weights))
    assert proc.returncode == 0, proc.stderr
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"progress"}
    start, done = events[0], events[-1]
    assert start["images"] == 3 and len(start["skipped"]) == 2 and "warning: skipped" in proc.stderr
    assert done["output"] == str(out) and done["json"] == str(out.with_suffix(".json")) and done["patches"] == 8
    assert all(0 <= e["fraction"] <= 1 and e["label"] for e in events[1:-1])
    assert Image.open(out).size == tuple(done["size"])


CLI_ERRORS = [
    (["{empty}", "-o", "{tmp}/x.png"], 2, "no usable images"),
    (["{pics}", "-o", "{tmp}/x.png", "--layers", "relu1_1,conv9_1"], 2, "unknown layer"),
    (["{pics}", "-o", "{tmp}/x.png", "--units", "0"], 2, "--units"),
    (["{pics}", "-o", "{tmp}/x.png", "--top", "many"], 2, "--top"),
    (["{pics}", "-o", "{tmp}/missing/x.png"], 2, "does not exist"),
    (["{pics}", "-o", "{tmp}/x.png", "--unit-ids", "relu1_1=3,x"], 2, "unit ids"),
    (["{pics}", "-o", "{tmp}/x.png", "--unit-ids", "relu1_1=3", "--unit-ids", "relu1_1=4"], 2, "twice"),
    (["{pics}", "-o", "{tmp}/x.png", "--weights", "{tmp}/none.pt"], 3, "weights"),
]


def _fill(args, folder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    return [a.format(empty=empty, tmp=tmp_path, pics=folder) for a in args]


@pytest.mark.parametrize("case", [0, 1, 7])
def test_cli_errors_subprocess(folder, tmp_path, case):
    """The real command: an error event as the last JSON line, the exit code, nothing written."""
    args, code, match = CLI_ERRORS[case]
    proc, events = _cli(*_fill(args, folder, tmp_path), "--model", "vgg16", timeout=60)
    assert proc.returncode == code, proc.stderr
    assert events[-1]["event"] == "error" and match in events[-1]["message"]
    assert "error: " in proc.stderr
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("args,code,match", CLI_ERRORS)
def test_cli_errors_in_process(folder, tmp_path, capsys, args, code, match):
    """Every error case through cli.main (the same code as the subprocess, without its 5 s start-up)."""
    from nst_engine import cli

    rc = cli.main(["visualize", *_fill(args, folder, tmp_path), "--model", "vgg16", "--progress", "json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert rc == code
    assert events[-1]["event"] == "error" and match in events[-1]["message"]
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x.json").exists()

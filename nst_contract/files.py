"""How a weights file is named by its content (the sha256 that the start event's ``weights_sha256``,
the converter's record and the installer's checks all compare), and what its first bytes say it is."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB pieces (weights files are 0.5 GB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def head_problem(path: Path) -> Optional[str]:
    """What a file meant to hold ``torch.save``'d weights is, when its first bytes already show it
    is not that ("is empty (0 bytes)", "is a text file (it starts with ...)"), or None: a binary
    file, for torch to judge. Both the engine's and the installer's messages are built on it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        return f"cannot be opened ({exc.strerror})"
    if not head:
        return "is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04"):  # torch.save's zip archive (its names are ASCII)
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return f"is a text file (it starts with {head[:40].decode('utf-8', 'replace')!r})"


def is_torch_save(path: Path) -> bool:
    """Whether a file starts as ``torch.save`` writes: a zip archive, or (older files) a pickle."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"

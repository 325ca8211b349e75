"""A download that survives a bad connection: resumed (HTTP Range), retried, checksum-checked,
with a progress line (a bar on a terminal, every 10 % in a log).
"""
from __future__ import annotations

import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from .common import APP, EXIT_OFFLINE, InstallError
from .weight_files import sha256_file


class DownloadError(InstallError):
    def __init__(self, message: str, got_bytes: bool):
        super().__init__(message, EXIT_OFFLINE)
        self.got_bytes = got_bytes


def progress_printer(label: str) -> Callable[[int, Optional[int]], None]:
    tty = sys.stderr.isatty()
    state = {"t0": time.monotonic(), "last": 0.0, "pct": -10}

    def show(done: int, total: Optional[int]) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if tty and now - state["last"] < 0.2 and not final:
            return
        rate = done / max(now - state["t0"], 1e-6)
        mb = done / 1e6
        if total:
            frac = min(done / total, 1.0)
            eta = (total - done) / rate if rate > 0 else 0
            text = (f"{label} [{'#' * int(frac * 30):<30}] {frac * 100:5.1f}% "
                    f"{mb:7.1f}/{total / 1e6:.1f} MB {rate / 1e6:5.1f} MB/s ETA {int(eta) // 60}:{int(eta) % 60:02d}")
            pct = int(frac * 100) // 10 * 10
        else:
            text, pct = f"{label} {mb:7.1f} MB", int(mb) // 50 * 10
        if tty:
            sys.stderr.write("\r" + text + ("\n" if final else ""))
            sys.stderr.flush()
        elif pct > state["pct"] or final:
            state["pct"] = pct
            print(text, file=sys.stderr, flush=True)
        state["last"] = now

    return show


def download(url: str, dest: Path, sha256_prefix: Optional[str], *, retries: int = 5,
             timeout: float = 30.0, backoff: float = 2.0,
             progress: Optional[Callable[[int, Optional[int]], None]] = None) -> str:
    """Download ``url`` to ``dest`` through ``dest.part``: resumed with HTTP Range after a broken
    connection (also across runs), retried with growing pauses, and checked against the sha256
    prefix. Returns the file's sha256. Raises DownloadError when it cannot be done."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    last_error: Optional[BaseException] = None
    got_bytes = _has_bytes(part)  # for the advice: a .part to resume is kept
    for attempt in range(1, max(retries, 1) + 1):
        if attempt > 1:
            pause = backoff * 2 ** (attempt - 2)
            print(f"  retrying in {pause:.0f} s (attempt {attempt} of {retries}): {last_error}",
                  file=sys.stderr, flush=True)
            time.sleep(pause)
        have = part.stat().st_size if part.exists() else 0
        try:
            fetch_into(url, part, have, timeout, progress)
        except urllib.error.HTTPError as exc:
            got_bytes = got_bytes or _has_bytes(part)
            if exc.code == 416 and have:  # nothing left to fetch: the .part is complete (or wrong)
                pass
            elif 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}", got_bytes) from exc
            else:
                last_error = exc
                continue
        except (urllib.error.URLError, OSError, ConnectionError, ValueError) as exc:
            got_bytes = got_bytes or _has_bytes(part)
            last_error = getattr(exc, "reason", None) or exc
            continue
        except Exception as exc:  # http.client.IncompleteRead and friends
            got_bytes = got_bytes or _has_bytes(part)
            last_error = exc
            continue
        digest = sha256_file(part)
        if sha256_prefix and not digest.startswith(sha256_prefix):
            part.unlink()
            last_error = ValueError(f"checksum mismatch: sha256 {digest[:16]}..., "
                                    f"expected {sha256_prefix}...; the damaged file was deleted")
            continue
        os.replace(part, dest)
        return digest
    if part.exists() and part.stat().st_size == 0:
        part.unlink()
    raise DownloadError(f"could not download {url}: {last_error}", got_bytes)


def fetch_into(url: str, part: Path, have: int, timeout: float,
               progress: Optional[Callable[[int, Optional[int]], None]]) -> None:
    """One request: the rest of ``url`` after ``have`` bytes appended to ``part`` (or all of it, when
    the server ignores Range); ConnectionError when the connection closes early."""
    req = urllib.request.Request(url, headers={"User-Agent": f"{APP}-installer"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        total: Optional[int] = None
        if have and resp.status == 206:
            m = re.search(r"/(\d+)\s*$", resp.headers.get("Content-Range", ""))
            total = int(m.group(1)) if m else None
            mode = "ab"
        else:  # a full answer (the server ignored Range, or a fresh start)
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = have
        with open(part, mode) as out:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        if total is not None and done < total:
            raise ConnectionError(f"connection closed after {done} of {total} bytes")


def _has_bytes(part: Path) -> bool:
    return part.exists() and part.stat().st_size > 0

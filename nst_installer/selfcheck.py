"""The install's proof: ``doctor`` and a tiny real stylisation, run the way the plug-in runs the engine.
"""
from __future__ import annotations

import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from nst_contract import process
from nst_contract.plugin_config import Config

from .common import PLUGIN_SRC
from .environments import probe_python


def write_png(path: Path, width: int, height: int, pixel: Callable[[int, int], Tuple[int, int, int]]) -> None:
    rows = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_size(path: Path) -> Tuple[int, int]:
    head = Path(path).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", head[16:24])


class CheckResult:
    def __init__(self) -> None:
        self.ok = True
        self.lines: List[str] = []
        self.events: List[dict] = []

    def fail(self, line: str) -> None:
        self.ok = False
        self.lines.append("FAILED: " + line)

    def note(self, line: str) -> None:
        self.lines.append(line)


def plugin_modules():
    """The plug-in's own modules (plugin/neural-style-transfer/, standard library and the contract
    only): the self-check builds the engine's command line, environment and working folder with
    them, so it runs the engine exactly as the plug-in does."""
    if str(PLUGIN_SRC) not in sys.path:
        sys.path.insert(0, str(PLUGIN_SRC))
    import nst_client
    import nst_config
    import nst_jobs
    return nst_config, nst_jobs, nst_client


def plugin_config(python: Path, *, model: str, weights: Optional[Path], device: str,
                  engine_path: Optional[Path]):
    """The plug-in's Config as install.py writes it into nst-config.json (the engine's own
    interpreter, also for a Flatpak GIMP, whose launcher cannot run outside the sandbox)."""
    return Config(path="<self-check>", engine_python=str(python),
                  engine_path=str(engine_path) if engine_path else None,
                  weights=str(weights) if weights else None, model=model, device=device)


def self_check(python: Path, *, model: str, weights: Optional[Path], device: str = "auto",
               expect_engine: Optional[Path] = None, timeout: float = 900) -> CheckResult:
    """``doctor`` and a tiny real stylisation with the given interpreter, as the plug-in runs it."""
    result = CheckResult()
    with tempfile.TemporaryDirectory(prefix="nst-selfcheck-") as tmp:
        if not check_engine_code(result, python, expect_engine):
            return result
        # the plug-in starts the engine in its engine folder (nst_client.popen_kwargs): so do we
        cfg = plugin_config(python, model=model, weights=weights, device=device,
                            engine_path=Path(expect_engine).parent if expect_engine else None)
        if not run_doctor(result, cfg, tmp, timeout=timeout):
            return result
        tiny_stylisation(result, cfg, Path(tmp), timeout=timeout)
    return result


def check_engine_code(result: CheckResult, python: Path, expect_engine: Optional[Path]) -> bool:
    """Which nst_engine the interpreter imports (from a neutral folder, no PYTHONPATH); False when none."""
    info = probe_python(python, {})
    origin = info.get("nst_engine")
    if not origin:
        result.fail(f"{python} cannot import nst_engine")
        return False
    engine_dir = Path(origin).resolve().parent
    if expect_engine and engine_dir != Path(expect_engine).resolve() and engine_dir.parent in pth_roots(info):
        result.note(f"engine code: {expect_engine} (outside GIMP, {python} imports another install's "
                    f"{engine_dir}: the last .pth in alphabetical order wins)")
    elif expect_engine and engine_dir != Path(expect_engine).resolve():
        result.fail(f"{python} imports nst_engine from {engine_dir}, not from the installed "
                    f"{expect_engine}: another nst_engine shadows it; remove that one")
    else:
        result.note(f"engine code: {engine_dir}")
    return True


def run_doctor(result: CheckResult, cfg, tmp: str, *, timeout: float) -> bool:
    """The engine's ``doctor`` in the plug-in's environment and folder: True when it passes
    (its report's end is noted)."""
    _config, _jobs, nst_client = plugin_modules()
    cmd = [cfg.engine_python, "-m", "nst_engine", "doctor", "--model", cfg.model, "--device", cfg.device]
    if cfg.weights:
        cmd += ["--weights", cfg.weights]
    t0 = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=nst_client.engine_env(cfg), **nst_client.popen_kwargs(cfg, tmp))
    except subprocess.TimeoutExpired:
        result.fail(f"doctor did not finish within {timeout:.0f} s: {' '.join(cmd)}")
        return False
    report = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        result.fail(f"doctor exited {done.returncode}: {' '.join(cmd)}\n{report[-2000:]}")
        return False
    result.note(f"doctor: OK in {time.monotonic() - t0:.1f} s")
    result.lines += ["    " + line for line in report.splitlines()[-12:]]
    return True


def tiny_stylisation(result: CheckResult, cfg, tmp: Path, *, timeout: float) -> None:
    """A 64 px draft through the plug-in's own command line (nst_jobs.build_argv), environment
    and working folder (nst_client), run by the contract's process; its events checked."""
    _config, nst_jobs, nst_client = plugin_modules()
    content, style, out = tmp / "content.png", tmp / "style.png", tmp / "out.png"
    write_png(content, 64, 48, lambda x, y: (40 + 3 * x, 60 + 3 * y, 200 - 2 * x))
    write_png(style, 64, 64, lambda x, y: (230, 180, 20) if (x // 8 + y // 8) % 2 else (20, 40, 160))
    job = nst_jobs.Job(content=str(content), style=str(style), output=str(out), layer_size=(64, 48),
                       preset="draft", size=64, iterations=5, seed=0)
    cmd = nst_jobs.build_argv(cfg, job)
    t0 = time.monotonic()
    run = process.run_engine(cmd, nst_client.engine_env(cfg), None,
                             popen_kw=nst_client.popen_kwargs(cfg, str(tmp)), timeout=timeout)
    result.events = run.events
    problems = stylisation_problems(run.returncode, run.events, run.bad, out)
    if run.timed_out:
        problems.insert(0, f"did not finish within {timeout:.0f} s")
    if problems:
        result.fail("stylisation through the plug-in's command line: " + "; ".join(problems)
                    + f"\n  command: {' '.join(cmd)}\n  stderr: {run.stderr.strip()[-1500:]}")
        return
    result.note(f"stylisation: OK, {[e.get('event') for e in run.events].count('progress')} progress events, "
                f"64 px result in {time.monotonic() - t0:.1f} s ({' '.join(cmd[1:4])} ... --progress json "
                "--watch-stdin)")
    if run.returncode != 0:  # the plug-in uses such a result too (nst_contract.process.outcome)
        result.note(f"warning: the engine exited with status {run.returncode} after reporting 'done' "
                    f"(an engine bug; the result is complete): {run.stderr.strip()[-300:]}")


def stylisation_problems(code: int, events: List[dict], bad: List[str], out: Path) -> List[str]:
    """What is wrong with a run's exit code, events and result, as the plug-in would see it."""
    kinds = [e.get("event") for e in events]
    problems = []
    done_ok = bool(kinds) and kinds[-1] == "done" and out.exists()
    if code != 0 and not done_ok:
        problems.append(f"exit {code}")
    if bad:
        problems.append(f"{len(bad)} stdout line(s) that are not JSON events, e.g. {bad[0][:120]!r}")
    if not kinds or kinds[0] != "start":
        problems.append(f"first event is {kinds[0] if kinds else None!r}, not 'start'")
    if "progress" not in kinds:
        problems.append("no 'progress' event")
    fractions = [e.get("fraction") for e in events if e.get("event") == "progress"]
    if any(not isinstance(f, (int, float)) or not 0 <= f <= 1 for f in fractions) or fractions != sorted(fractions):
        problems.append(f"progress fractions not rising within 0..1: {fractions}")
    if not kinds or kinds[-1] != "done":
        last = events[-1] if events else {}
        problems.append(f"last event is {last!r}, not 'done'")
    elif not out.exists():
        problems.append(f"'done' but no {out}")
    else:
        try:
            size = png_size(out)
            if max(size) != 64:
                problems.append(f"result is {size[0]}x{size[1]}, expected 64 px on the longest side")
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def pth_roots(info: dict) -> List[Path]:
    """The engine folders install.py's .pth files put on an interpreter's path (every prefix's)."""
    roots = []
    for site_dir in (info.get("purelib"), info.get("usersite")):
        for pth in sorted(Path(site_dir).glob("gimp_neural_style*.pth")) if site_dir else []:
            if not re.fullmatch(r"gimp_neural_style(_[0-9a-f]{12})?\.pth", pth.name):
                continue
            try:
                roots.append(Path(pth.read_text().strip()).resolve())
            except OSError:
                pass
    return roots

"""Choosing where to compute, how much memory is there, and how much of it a job may plan for."""
from __future__ import annotations

import os

import torch

from nst_contract.events import bad_input

# The share of the memory measured free that a job (or decoding an image) may plan to use: the
# estimates are fitted to measured peaks, and the rest of the machine goes on allocating meanwhile.
HEADROOM = 0.9


def pick(name: str = "auto") -> torch.device:
    """auto prefers CUDA, then Apple's MPS, then the CPU; an explicit choice must be available."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise bad_input(f"--device cuda was asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                        "use --device cpu or auto")
    if name == "mps" and not has_mps:
        raise bad_input("--device mps was asked for, but Apple's Metal backend is not available here; "
                        "use --device cpu or auto")
    if name not in ("cpu", "cuda", "mps"):
        raise bad_input(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads for this process (None/0 = torch's choice). One place
    for stylize() and serve's warm-up, so the numerics they measure use the same threads."""
    if threads:
        torch.set_num_threads(int(threads))


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` now, or None when it cannot be told."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        try:
            return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        except (AttributeError, RuntimeError):
            return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fits(need: int, have: int | None) -> bool:
    """Whether ``need`` bytes fit in ``have`` free (None: cannot be told, so assumed to fit)."""
    return have is None or need <= HEADROOM * have

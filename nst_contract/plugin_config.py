"""``nst-config.json``: which engine the plug-in runs, as install.py writes it beside the plug-in.

The one file the installer and the plug-in share outside the command line and the events, so
its schema is written once, here: the fields of ``Config``, the writer ``config_text`` (the
installer) and the checking reader ``load`` (the plug-in, once per run). Relative paths are
relative to the file's folder; keys this version does not know are ignored.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

CONFIG_NAME = "nst-config.json"


class ConfigProblem(ValueError):
    """What is wrong with the file, in words for the user (the reader's ``hint`` says how to repair
    an installation where that is the fix)."""


@dataclass
class Config:
    path: str                                       # the file it was read from
    engine_python: str                              # the engine's interpreter (or a Flatpak GIMP's launcher)
    engine_path: Optional[str] = None               # the engine's code: its working folder
    weights: Optional[str] = None
    model: Optional[str] = None
    device: Optional[str] = None
    threads: Optional[int] = None
    extra_args: List[str] = field(default_factory=list)            # stylize only
    visualize_extra_args: List[str] = field(default_factory=list)  # visualize only
    env: Dict[str, str] = field(default_factory=dict)              # added to the engine's environment
    temp_dir: Optional[str] = None                  # where run folders go
    weights_source: Optional[str] = None            # where the weights came from (for people)
    weights_sha256: Optional[str] = None            # the weights file's sha256 at install time


def config_text(engine_python: str, *, engine_path: Optional[str] = None, weights: Optional[str] = None,
                model: Optional[str] = None, device: Optional[str] = None,
                weights_source: Optional[str] = None, weights_sha256: Optional[str] = None) -> str:
    """The file's text as the installer writes it: the fields given, in this order."""
    data = {"engine_python": engine_python, "engine_path": engine_path, "weights": weights,
            "model": model, "device": device}
    data.update({k: v for k, v in (("weights_source", weights_source), ("weights_sha256", weights_sha256))
                 if v is not None})
    return json.dumps(data, indent=2) + "\n"


def load(path: str, hint: str = "") -> Config:
    """Read and check the file; ConfigProblem saying what is wrong (with ``hint`` where a new
    installation is the fix)."""
    data = _read_json(path, hint)
    base = os.path.dirname(path)
    cfg = Config(path=path, engine_python=_engine_python(data, path, base, hint))
    _read_paths(cfg, data, base, hint)
    _read_settings(cfg, data)
    tmp = data.get("temp_dir")
    if tmp:
        if not isinstance(tmp, str):
            raise ConfigProblem(f"\"temp_dir\" in {path} must be a path (a string).")
        cfg.temp_dir = _resolve(base, tmp)
    return cfg


def _resolve(base: str, value: str) -> str:
    value = os.path.expanduser(os.path.expandvars(value))
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(base, value))


def _read_json(path: str, hint: str) -> dict:
    if not os.path.isfile(path):
        raise ConfigProblem(f"The neural style transfer engine is not configured: {path} is missing.\n{hint}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: absurdly deep nesting
        raise ConfigProblem(f"The engine configuration {path} cannot be read ({e}).\n{hint}")
    if not isinstance(data, dict):
        raise ConfigProblem(f"The engine configuration {path} is not a JSON object.\n{hint}")
    return data


def _engine_python(data: dict, path: str, base: str, hint: str) -> str:
    py = data.get("engine_python")
    if not isinstance(py, str) or not py:
        raise ConfigProblem(f"The engine configuration {path} has no \"engine_python\".\n{hint}")
    py = _resolve(base, py)
    if not os.path.isfile(py):
        raise ConfigProblem(f"The engine's Python {py} (from {path}) does not exist: the engine is not "
                            f"installed or was moved.\n{hint}")
    return py


def _read_paths(cfg: Config, data: dict, base: str, hint: str) -> None:
    """``engine_path`` (a folder) and ``weights`` (a file): they must exist."""
    path = cfg.path
    for key in ("engine_path", "weights"):
        v = data.get(key)
        if not v:
            continue
        if not isinstance(v, str):
            raise ConfigProblem(f"\"{key}\" in {path} must be a path (a string).")
        v = _resolve(base, v)
        if key == "engine_path" and not os.path.isdir(v):
            raise ConfigProblem(f"The engine folder {v} (\"engine_path\" in {path}) does not exist.\n{hint}")
        if key == "weights" and not os.path.isfile(v):
            raise ConfigProblem(f"The network weights {v} (\"weights\" in {path}) are missing.\n{hint}")
        setattr(cfg, key, v)


def _read_settings(cfg: Config, data: dict) -> None:
    """model, device, the weights' record, threads, each command's extra arguments and the engine's
    variables."""
    path = cfg.path
    for key in ("model", "device", "weights_source", "weights_sha256"):
        v = data.get(key)
        if v is not None:
            if not isinstance(v, str):
                raise ConfigProblem(f"\"{key}\" in {path} must be a string.")
            setattr(cfg, key, v)
    threads = data.get("threads")
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise ConfigProblem(f"\"threads\" in {path} must be a non-negative integer.")
        cfg.threads = threads or None
    for key in ("extra_args", "visualize_extra_args"):
        extra = data.get(key, [])
        if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
            raise ConfigProblem(f"\"{key}\" in {path} must be a list of strings.")
        setattr(cfg, key, list(extra))
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in env.items()):
        raise ConfigProblem(f"\"env\" in {path} must map names to strings.")
    cfg.env = dict(env)

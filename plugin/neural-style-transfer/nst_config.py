"""The plug-in's configuration file, nst-config.json (written by install.py): which engine to run.

Read and checked here, once per run, so that a missing or broken installation is reported with
advice (ConfigError) before anything else happens; relative paths are relative to the file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from nst_errors import INSTALL_HINT, ConfigError


CONFIG_NAME = "nst-config.json"
CONFIG_ENV = "NST_PLUGIN_CONFIG"


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
    data = _read_json(path)
    base = os.path.dirname(path)
    cfg = Config(path=path, engine_python=_engine_python(data, path, base))
    _read_paths(cfg, data, base)
    _read_settings(cfg, data)
    tmp = data.get("temp_dir")
    if tmp:
        if not isinstance(tmp, str):
            raise ConfigError(f"\"temp_dir\" in {path} must be a path (a string).")
        cfg.temp_dir = _resolve(base, tmp)
    return cfg


def _read_json(path: str) -> dict:
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
    return data


def _engine_python(data: dict, path: str, base: str) -> str:
    py = data.get("engine_python")
    if not isinstance(py, str) or not py:
        raise ConfigError(f"The engine configuration {path} has no \"engine_python\".\n{INSTALL_HINT}")
    py = _resolve(base, py)
    if not os.path.isfile(py):
        raise ConfigError(f"The engine's Python {py} (from {path}) does not exist: the engine is not "
                          f"installed or was moved.\n{INSTALL_HINT}")
    return py


def _read_paths(cfg: Config, data: dict, base: str) -> None:
    """``engine_path`` (a folder) and ``weights`` (a file): they must exist."""
    path = cfg.path
    for key in ("engine_path", "weights"):
        v = data.get(key)
        if not v:
            continue
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


def _read_settings(cfg: Config, data: dict) -> None:
    """model, device, threads, the extra arguments of each command and the engine's variables."""
    path = cfg.path
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

"""Where the plug-in finds its nst-config.json (written by install.py: which engine to run), read
once per run so that a missing or broken installation is reported with advice (ConfigError)
before anything else happens. The file's fields and checks are the contract's
(nst_contract.plugin_config), which the installer writes it with.
"""
from __future__ import annotations

import os
from typing import Optional

from nst_contract import plugin_config
from nst_contract.plugin_config import CONFIG_NAME, Config
from nst_errors import INSTALL_HINT, ConfigError


CONFIG_ENV = "NST_PLUGIN_CONFIG"


def plugin_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def config_path(environ: Optional[dict] = None, directory: Optional[str] = None) -> str:
    environ = os.environ if environ is None else environ
    override = environ.get(CONFIG_ENV)
    if override:
        return os.path.abspath(os.path.expanduser(override))
    return os.path.join(directory or plugin_dir(), CONFIG_NAME)


def load_config(path: Optional[str] = None, environ: Optional[dict] = None) -> Config:
    """Read and check the engine configuration; raise ConfigError with advice."""
    try:
        return plugin_config.load(path or config_path(environ), hint=INSTALL_HINT)
    except plugin_config.ConfigProblem as e:
        raise ConfigError(str(e)) from None

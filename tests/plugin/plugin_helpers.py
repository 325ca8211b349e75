"""What the plug-in's tests share: the plug-in's folder on sys.path (its modules are imported
as GIMP imports them), and builders of configs, jobs and small fake engines."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parent.parent.parent / "plugin" / "neural-style-transfer"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))
from nst_contract import plugin_config  # noqa: E402
import nst_jobs  # noqa: E402


def write_config(tmp_path, data, name="nst-config.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


def cfg(**kw):
    c = plugin_config.Config(path="/c.json", engine_python="/venv/bin/python")
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def job(**kw):
    base = dict(content="/t/content.png", style="/s/style.jpg", output="/t/result.png",
                layer_size=(800, 600))
    base.update(kw)
    return nst_jobs.Job(**base)


def opt(argv, name):
    return argv[argv.index(name) + 1]


FAKE_HEADER = """\
import json, sys, time, os
def ev(**k):
    print(json.dumps(k), flush=True)
args = sys.argv[1:]
out = args[args.index('-o') + 1] if '-o' in args else None
"""


def fake(tmp_path, body, name="fake_engine.py"):
    p = tmp_path / name
    p.write_text(FAKE_HEADER + textwrap.dedent(body))
    return [sys.executable, str(p)]


def vjob(**kw):
    base = dict(inputs=["/pics"], output="/t/units.png", index="/t/units.json")
    base.update(kw)
    return nst_jobs.VisualizeJob(**base)

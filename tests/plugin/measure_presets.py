"""Measure how long each quality preset takes with the real engine (for docs/plugin.md).

    python tests/plugin/measure_presets.py [--budget 120] [--content IMG] [--style IMG]

Runs the engine exactly as the plug-in does (nst_client.build_argv, same environment) for
each preset on a photo at the preset's size. A run that is still going after --budget
seconds is stopped by closing its stdin (the plug-in's Cancel path) and its total time is
estimated from elapsed + the engine's own eta. Prints one JSON line per preset."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "plugin" / "neural-style-transfer"))
sys.path.insert(0, str(REPO))  # nst_contract, which the plug-in imports
import nst_client as nc  # noqa: E402
from nst_contract.events import parse_event  # noqa: E402
from nst_contract import plugin_config  # noqa: E402
import nst_jobs  # noqa: E402

SHARED = Path(os.environ.get("NST_SHARED", REPO.parent / "shared"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=120)
    ap.add_argument("--content", default=str(SHARED / "images" / "tubingen.jpg"))
    ap.add_argument("--style", default=str(SHARED / "images" / "starry_night.jpg"))
    ap.add_argument("--presets", default="draft,balanced,best")
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--weights", default=str(SHARED / "weights" / "vgg16_features_fixture.pt"))
    a = ap.parse_args()
    py = os.environ.get("NST_ENGINE_PYTHON",
                        os.path.expanduser("~/.cache/gimp-neural-style/test-venv/bin/python"))
    cfg = plugin_config.Config(path="<measure>", engine_python=py, engine_path=str(REPO), weights=a.weights,
                            model=a.model, device="cpu")
    for preset in a.presets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            job = nst_jobs.Job(content=a.content, style=a.style, output=os.path.join(tmp, "out.png"),
                               layer_size=(4000, 3000), preset=preset)
            argv = nst_jobs.build_argv(cfg, job)
            t0 = time.time()
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=nc.engine_env(cfg), cwd=str(REPO))
            start = last = None
            for raw in iter(p.stdout.readline, b""):
                ev = parse_event(raw)
                if not ev:
                    continue
                if ev["event"] == "start":
                    start = ev
                last = ev
                if ev["event"] == "progress" and time.time() - t0 > a.budget:
                    p.stdin.close()   # the plug-in's cancel path
                    break
            rest = p.stdout.read()
            rc = p.wait()
            wall = time.time() - t0
            row = {"preset": preset, "size": nst_jobs.PRESETS[preset][1], "model": a.model,
                   "steps": start and start.get("total_steps"), "scales": start and start.get("scales"),
                   "wall_s": round(wall, 1), "exit": rc, "cpu_count": os.cpu_count(),
                   "load": os.getloadavg()[0]}
            if last and last["event"] == "done":
                row["total_s"] = round(wall, 1)
            elif last and last["event"] == "progress":
                row["estimated_total_s"] = round(wall + float(last.get("eta_s") or 0), 1)
                row["fraction_done"] = last.get("fraction")
                cancel_ev = [parse_event(x) for x in rest.splitlines()]
                row["cancel_event"] = [e for e in cancel_ev if e][-1:] if rest else None
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

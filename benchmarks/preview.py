"""How fast the dialog's preview is, through the plug-in's own client (nst_client.PreviewEngine).

Measures what the user waits for, with the engine the plug-in starts (``serve``) and the
preview's own settings (nst_client.PREVIEW_*):

* **first picture**: from starting the engine to the first snapshot the dialog can show, and to
  the finished preview. The plug-in starts the engine before GIMP builds the dialog (about 1 s
  before it appears on this machine), so this is an upper bound of "dialog opens → first picture";
* **update**: a strength change on the warm engine (network loaded, style statistics reused):
  from sending the job to its first snapshot and to its end.

Reference, measured in the same run: the same preview job as a one-off ``stylize`` process
(what each update would cost without ``serve``: Python + torch start, network load, style
statistics). Medians of ``--repeats``.

    python benchmarks/preview.py --weights ../shared/weights/vgg16_features_fixture.pt --model vgg16
"""
from __future__ import annotations

import argparse
import os
import select
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "plugin" / "neural-style-transfer"))
sys.path.insert(0, str(REPO))  # nst_contract, which the plug-in imports
import nst_client as nc  # noqa: E402
from nst_contract.process import tail  # noqa: E402
from nst_contract import plugin_config  # noqa: E402
import nst_jobs  # noqa: E402


def wait(engine, job_id, t0):
    """(seconds to the first snapshot, seconds to done) of job ``job_id``, from ``t0``."""
    first = None
    while True:
        select.select([engine.fileno()], [], [], 1.0)
        events, ended = engine.read_events()
        for ev in events:
            if ev["event"] == "snapshot" and first is None:
                first = time.monotonic() - t0
            if ev["event"] == "error":
                raise RuntimeError(ev)
            if ev["event"] == "done":
                end = time.monotonic() - t0
                return (first if first is not None else end), end
        if ended:
            raise RuntimeError("the engine stopped: " + tail(engine.stderr_path))


def one_session(cfg, content, style, tmp, size):
    t0 = time.monotonic()
    engine = nc.PreviewEngine(cfg, str(tmp / "serve.log"), nc.popen_kwargs(cfg, str(tmp)))
    try:
        engine.submit(nst_jobs.preview_job(content, style, str(tmp / "p1.png"), size, strength=0.5))
        first = wait(engine, engine.current, t0)
        t1 = time.monotonic()
        engine.submit(nst_jobs.preview_job(content, style, str(tmp / "p2.png"), size, strength=0.8))
        update = wait(engine, engine.current, t1)
    finally:
        engine.close()
    return first, update


def one_off(cfg, content, style, tmp, size):
    job = nst_jobs.preview_job(content, style, str(tmp / "ref.png"), size, strength=0.8)
    t0 = time.monotonic()
    nc.run_engine(nst_jobs.build_argv(cfg, job), nc.engine_env(cfg), str(tmp / "ref.log"),
                  popen_kw=nc.popen_kwargs(cfg, str(tmp)))
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--content", default=str(REPO.parent / "shared" / "images" / "tubingen.jpg"))
    ap.add_argument("--style", default=str(REPO.parent / "shared" / "images" / "starry_night.jpg"))
    ap.add_argument("--model", default="vgg16")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--python", default=sys.executable, help="the engine's interpreter")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cfg = plugin_config.Config(path="<benchmark>", engine_python=args.python, engine_path=str(REPO),
                            weights=args.weights, model=args.model, device="cpu", threads=args.threads)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # The dialog hands the engine the layer already scaled to the preview's size.
        from PIL import Image
        img = Image.open(args.content).convert("RGB")
        size = nst_jobs.preview_size(*img.size)
        img.resize(size, Image.Resampling.LANCZOS).save(tmp / "content.png")
        content = str(tmp / "content.png")
        rows = []
        for i in range(args.repeats):
            (first_pic, first_done), (upd_pic, upd_done) = one_session(cfg, content, args.style, tmp, size)
            ref = one_off(cfg, content, args.style, tmp, size)
            rows.append((first_pic, first_done, upd_pic, upd_done, ref))
            print(f"run {i + 1}: first picture {first_pic:.1f} s, first preview done {first_done:.1f} s; "
                  f"update picture {upd_pic:.1f} s, update done {upd_done:.1f} s; one-off stylize {ref:.1f} s",
                  flush=True)
    med = [statistics.median(c) for c in zip(*rows)]
    print(f"\nmedians of {args.repeats}, {args.model}, preview {size[0]}x{size[1]} from a {nst_jobs.PREVIEW_COARSEST} px "
          f"scale, {nst_jobs.PREVIEW_ITERATIONS} iterations at the finest, snapshot every {nst_jobs.PREVIEW_SNAPSHOT_EVERY}:")
    print(f"  engine start → first picture   {med[0]:6.1f} s   (preview finished {med[1]:.1f} s)")
    print(f"  strength change → new picture  {med[2]:6.1f} s   (finished {med[3]:.1f} s)")
    print(f"  reference: one-off stylize     {med[4]:6.1f} s   → update finished in "
          f"{med[3] / med[4]:.2f}× the reference's time")
    print(f"  load average now: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()

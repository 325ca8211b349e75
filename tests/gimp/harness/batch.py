"""One GIMP batch session running cases of tests/gimp/batch_cases.py, and reading its findings."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import GIMP_TESTS
from .cancel import CancelWatcher
from .workspace import ready_workspace


def case_result(results, name):
    """One case's findings from a batch session's results, failing clearly when it did not run."""
    if "fatal" in results or "cases" not in results:
        raise AssertionError(f"GIMP batch did not run: {results.get('fatal')}\n"
                             f"stderr: {results.get('gimp_stderr', '')[-3000:]}")
    info = results["cases"].get(name)
    assert info is not None, f"case {name} missing; stderr: {results.get('gimp_stderr', '')[-3000:]}"
    assert "exception" not in info, info["exception"]
    return info


def gimp_ran(gimp) -> dict:
    """What a test ran, for its findings: kind (native/chroot), program and version."""
    return {"gimp_kind": gimp.kind, "gimp_program": gimp.console, "gimp_version_ran": gimp.version}


def _start_watcher(ws, cancel_match, timeout: float, delay_s: float) -> CancelWatcher:
    # only this session's engine: another GIMP test run on the machine (the other
    # series, another checkout) starts engines with the same arguments
    def ours(argv, work=str(ws.work) + os.sep):
        return cancel_match(argv) and any(a.startswith(work) for a in argv)
    # it looks for as long as the session may run (on a loaded machine the cancel case
    # can start late in it); stopped when the session ends
    watcher = CancelWatcher(ours, deadline_s=timeout, delay_s=delay_s)
    watcher.start()
    return watcher


def run_batch_session(repo_dir, shared_images, fixture_weights, series, cases, params=None,
                      cancel_match=None, cancel_delay_s: float = 8.0, keep_env=None,
                      timeout: float = 1200, model: str = "vgg16") -> dict:
    """Run ``cases`` of tests/gimp/batch_cases.py in one batch session of GIMP ``series`` (a fresh
    profile with the plug-in and a config pointing at the engine) and return its findings,
    plus GIMP's exit status, output and timing. With ``cancel_match`` a CancelWatcher kills
    the plug-in once an engine run it matches is up (its findings: ``cancel_watcher``).
    Skips the calling test when no GIMP of that series can run here; fails when the engine cannot."""
    gimp, ws = ready_workspace(repo_dir, shared_images, fixture_weights, series, model)
    try:
        out = ws.work / "results.json"
        all_params = {
            "cases": list(cases), "images": str(shared_images), "config": str(ws.config),
            "out": str(out), "work": str(ws.work), "plugin_tmp": str(ws.plugin_tmp)}
        all_params.update(params or {})
        args = ws.batch_args(GIMP_TESTS / "batch_cases.py", all_params)
        watcher = None if cancel_match is None else _start_watcher(ws, cancel_match, timeout, cancel_delay_s)
        t = time.time()
        with gimp.session(ws.binds) as sess:
            proc = sess.gimp(args, ws.env, timeout=timeout)
        if watcher is not None:
            watcher.stop.set()
            watcher.join(5)
        results = json.loads(out.read_text()) if out.exists() else {}
        results["gimp_seconds"] = round(time.time() - t, 1)
        results["gimp_returncode"] = proc.returncode
        results["gimp_stderr"] = proc.stderr[-20000:]
        results["gimp_stdout"] = proc.stdout[-5000:]
        results["cancel_watcher"] = watcher.info if watcher is not None else {}
        results.update(gimp_ran(gimp))
        keep = os.environ.get(keep_env) if keep_env else None
        if keep:
            Path(keep).write_text(json.dumps(results, indent=1))
        return results
    finally:
        ws.remove()   # the session has unmounted everything under it

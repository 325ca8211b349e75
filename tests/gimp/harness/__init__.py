"""Run a real GIMP 3 for the plug-in tests, in each GIMP series; one module per job.

The tests run against every series in ``series.SERIES`` (3.0 and 3.2; ``NST_GIMP_SERIES`` or
pytest's ``--gimp-series`` choose some). A GIMP of a series with Python support is
``gimp-console-<series>`` on PATH (``session.native_gimp``), else the series' Debian root
provisioned by tests/gimp/provision_root.sh and entered with chroot (``chroot.ChrootGimp``);
``discovery.find_gimp`` picks one. The modules:

* ``series``: which series, a program's series, a root's readiness (standard library: tests/run.py
  imports it before the test venv exists);
* ``session``: commands inside a GIMP's environment, a native GIMP;
* ``chroot``: the Debian roots, their lock, provisioning, bind mounts;
* ``discovery``: a runnable GIMP of a series;
* ``workspace``: a throwaway profile with the plug-in installed (``ready_workspace`` for a test);
* ``cancel``: Cancel as GIMP does it (kill the plug-in), watching the engine go;
* ``display``: an Xvfb display for the dialog tests, and ``wait_for``;
* ``batch``: one batch session of tests/gimp/batch_cases.py and its findings.

Usage (see tests/gimp/test_gimp_stylize.py)::

    gimp = discovery.find_gimp("3.2")          # raises GimpUnavailable with a reason
    with gimp.session(extra_dirs) as sess:
        proc = sess.gimp(["-b", code], env={...}, timeout=600)   # gimp.version: what ran

Manual smoke test, from tests/gimp: ``python3 -m harness [SERIES]``.
"""
from pathlib import Path

GIMP_TESTS = Path(__file__).resolve().parent.parent   # tests/gimp: the batch scripts, provision_root.sh
REPO = GIMP_TESTS.parent.parent

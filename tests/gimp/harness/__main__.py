"""Manual smoke test: ``python3 -m harness [SERIES]`` from tests/gimp prints what GIMP runs."""
import sys

from .discovery import find_gimp

g = find_gimp(sys.argv[1] if len(sys.argv) > 1 else "3.0")
with g.session() as sess:
    p = sess.gimp(["--version"], {}, 60)
    print(g.kind, g.console, g.version, p.returncode, p.stdout, p.stderr[-2000:], file=sys.stderr)

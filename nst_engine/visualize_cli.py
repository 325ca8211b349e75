"""``nst-engine visualize``: the command-line face of ``visualize()`` (contract: docs/visualize.md).

Its options and request are the contract's (nst_contract.options.VISUALIZE,
nst_contract.requests.VisualizeRequest); cli.main calls ``run`` with them parsed.
"""
from __future__ import annotations

import sys

from nst_contract.requests import request_from_args


def run(args, reporter, token) -> int:
    req = request_from_args(args)  # before importing torch: a usage mistake is told at once
    from .visualize import visualize

    def on_event(event):
        data = event.to_event()
        if data["event"] == "start":
            for s in data["skipped"]:
                print(f"warning: skipped {s['path']}: {s['reason']}", file=sys.stderr, flush=True)
            if data.get("backend_note"):
                print(f"note: {data['backend_note']}; scanning with torch", file=sys.stderr, flush=True)
        reporter.emit(data)

    result = visualize(req, on_event, token)
    reporter.emit(result.to_event())
    return 0

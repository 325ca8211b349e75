"""``stylize()`` (run.py for now; the next commit splits it into modules by job)."""
from .run import *  # noqa: F401,F403
from .run import _schedule, _scale_need, _step_cost, _style_hws, _style_views  # noqa: F401

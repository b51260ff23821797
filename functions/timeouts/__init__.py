"""Sweeps: approval deadlines, idle conversations, stale jobs, callbacks, retention. See README.md.

``router`` (mounted by the gateway under /timeouts), and, built on first access, ``app``
(standalone), ``handler`` (Mangum, for the HTTP endpoint on AWS Lambda) and
``scheduled_handler`` (a plain handler for a scheduled event).
"""

from functions._shared.lambda_handler import standalone_attributes
from functions.timeouts.router import router

__all__ = ["app", "handler", "router", "scheduled_handler"]


__getattr__ = standalone_attributes(__name__, ("app", "handler", "scheduled_handler"))

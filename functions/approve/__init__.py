"""The human-approval queue, for agents and for external AI agents. See README.md.

``router`` (mounted by the gateway under /approve), ``app`` (standalone, from standalone.py) and
``handler`` (Mangum, AWS Lambda), the latter two built on first access.
"""

from functions._shared.lambda_handler import standalone_attributes
from functions.approve.router import router

__all__ = ["app", "handler", "router"]


__getattr__ = standalone_attributes(__name__)

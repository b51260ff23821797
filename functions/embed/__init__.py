"""KB ingestion: chunk, embed, index, search, reprocess. See README.md.

``router`` (mounted by the gateway under /embed), ``app`` (standalone, from standalone.py)
and ``handler`` (Mangum, AWS Lambda). ``app`` and ``handler`` are built on first access, so
that the gateway, which needs only the router, does not build a second app at import.
"""

from functions._shared.lambda_handler import standalone_attributes
from functions.embed.router import router

__all__ = ["app", "handler", "router"]


__getattr__ = standalone_attributes(__name__)

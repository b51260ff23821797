"""Personal-data masking for text bound for the LLM, the embedder and the logs.

``find_personal_data`` locates phone, 주민등록번호, card, bank account, e-mail and passport
numbers; ``mask_personal_data`` replaces them with typed placeholders (``PLACEHOLDERS``);
``contains_personal_data`` and ``personal_data_kinds`` serve the chat routing policy.

Importing this package installs ``mask_log_event`` in ``functions._shared.logs.LOG_REDACTORS``,
so logging configured afterwards masks every line.
"""

from functions._shared.logs import LOG_REDACTORS
from functions._shared.pii.detectors import (
    PersonalDataKind,
    PersonalDataMatch,
    find_personal_data,
    may_hold_personal_data,
)
from functions._shared.pii.log_processor import mask_log_event
from functions._shared.pii.masking import (
    PLACEHOLDERS,
    InvalidPlaceholderError,
    contains_personal_data,
    mask_personal_data,
    personal_data_kinds,
    placeholders_with,
)

__all__ = [
    "PLACEHOLDERS",
    "InvalidPlaceholderError",
    "PersonalDataKind",
    "PersonalDataMatch",
    "contains_personal_data",
    "find_personal_data",
    "mask_log_event",
    "mask_personal_data",
    "may_hold_personal_data",
    "personal_data_kinds",
    "placeholders_with",
]

# The check keeps a re-import (importlib.reload in tests) from masking every line twice.
if mask_log_event not in LOG_REDACTORS:
    LOG_REDACTORS.append(mask_log_event)

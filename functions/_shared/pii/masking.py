"""Masking personal data with typed placeholders, before text reaches the LLM, the embedder or
the logs.

The placeholders live here and only here (``PLACEHOLDERS``). They name the kind, so the model
still knows "the customer gave a phone number" without seeing it, and they contain no digit and
no @, so masked text never looks like personal data again (masking is idempotent). To change
them from settings, build a mapping with ``placeholders_with(overrides)`` and pass it to
``mask_personal_data``.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from functions._shared.pii.detectors import (
    PersonalDataKind,
    PersonalDataMatch,
    find_personal_data,
    may_hold_personal_data,
)

PLACEHOLDERS: Final[Mapping[PersonalDataKind, str]] = MappingProxyType(
    {
        PersonalDataKind.PHONE_NUMBER: "[전화번호]",
        PersonalDataKind.RESIDENT_REGISTRATION_NUMBER: "[주민등록번호]",
        PersonalDataKind.CARD_NUMBER: "[카드번호]",
        PersonalDataKind.BANK_ACCOUNT_NUMBER: "[계좌번호]",
        PersonalDataKind.EMAIL_ADDRESS: "[이메일]",
        PersonalDataKind.PASSPORT_NUMBER: "[여권번호]",
    }
)

# Each pass removes at least one digit or @ and adds none, so masking settles; the bound only
# guards against a placeholder mapping that was not built by placeholders_with.
_MAX_PASSES: Final = 8


class InvalidPlaceholderError(ValueError):
    """A placeholder override names no kind, or could itself be taken for personal data."""


def placeholders_with(overrides: Mapping[str, str]) -> Mapping[PersonalDataKind, str]:
    """``PLACEHOLDERS`` with the texts in ``overrides`` (keyed by kind value) put in their place."""
    placeholders = dict(PLACEHOLDERS)
    for kind_name, placeholder in overrides.items():
        try:
            kind = PersonalDataKind(kind_name)
        except ValueError as error:
            raise InvalidPlaceholderError(f"no personal-data kind named {kind_name!r}") from error
        if not placeholder or may_hold_personal_data(placeholder):
            raise InvalidPlaceholderError(
                f"the placeholder for {kind_name} must be non-empty and hold no digit or @"
            )
        placeholders[kind] = placeholder
    return MappingProxyType(placeholders)


def mask_personal_data(
    text: str, placeholders: Mapping[PersonalDataKind, str] = PLACEHOLDERS
) -> str:
    """``text`` with every piece of personal data replaced by its kind's placeholder.

    Returns ``text`` itself (the same object) when there is nothing to mask.
    """
    masked = text
    for _ in range(_MAX_PASSES):
        matches = find_personal_data(masked)
        if not matches:
            break
        # Another pass, because a removed value can bring a context word (계좌, a bank's name)
        # within reach of a number that was too far from it: masking twice must change nothing.
        masked = _replace(masked, matches, placeholders)
    return masked


def _replace(
    text: str, matches: list[PersonalDataMatch], placeholders: Mapping[PersonalDataKind, str]
) -> str:
    pieces: list[str] = []
    position = 0
    for match in matches:
        pieces.append(text[position : match.start])
        pieces.append(placeholders[match.kind])
        position = match.end
    pieces.append(text[position:])
    return "".join(pieces)


def contains_personal_data(text: str) -> bool:
    return bool(find_personal_data(text))


def personal_data_kinds(text: str) -> set[str]:
    """The kinds (``PersonalDataKind`` values) present in ``text``; empty when there are none."""
    return {match.kind.value for match in find_personal_data(text)}

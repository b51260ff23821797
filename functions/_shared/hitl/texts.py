"""Customer-facing Korean notices, read from text files an operator can override."""

from enum import StrEnum
from functools import cache
from pathlib import Path

BUNDLED_TEXTS_DIR = Path(__file__).parent / "texts"


class Notice(StrEnum):
    HANDOFF = "handoff"
    NO_ANSWER = "no_answer"
    FALLBACK = "fallback"
    REJECTED = "rejected"
    ACTION_APPROVED = "action_approved"
    EXPIRED = "expired"
    CLOSED = "closed"


@cache
def _read(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"The customer text {path} is empty")
    return text


def customer_text(notice: Notice, *, override_dir: Path | None) -> str:
    """The notice from ``override_dir`` when it has the file, else the bundled one."""
    if override_dir is not None:
        candidate = override_dir / f"{notice.value}.txt"
        if candidate.is_file():
            return _read(candidate)
    return _read(BUNDLED_TEXTS_DIR / f"{notice.value}.txt")

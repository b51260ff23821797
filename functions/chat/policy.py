"""Routing: does this turn go to a person? Rules (``config/policy.toml``, via ``rules.py``) on
the masked message, personal data in it, the retrieval's grounding and, with OpenAI, a cheap
classifier; the draft adds its own findings (``guard.py``) and any proposed tool call."""

from collections.abc import Sequence

from functions._shared.kb.search import SearchResult
from functions._shared.settings import Settings
from functions.chat.providers import Classification
from functions.chat.rules import REASON_CODES

# What the rules (and the classifier, which picks from the same list) can find.
RULE_REASONS = tuple(sorted(REASON_CODES))
PERSONAL_DATA = "personal_data"
LOW_GROUNDING = "low_grounding"
MODEL_UNCERTAIN = "model_uncertain"
TOOL_CALL = "tool_call"
PROVIDER_ERROR = "provider_error"


def grounding_score(results: Sequence[SearchResult], settings: Settings) -> float:
    """The best passage's cosine similarity plus a weighted share of the question's keywords it
    holds (the local embedder alone separates on-topic from off-topic questions poorly)."""
    weight = settings.chat_grounding_keyword_weight
    return max(((r.similarity or 0.0) + weight * r.keyword_match for r in results), default=0.0)


def input_reasons(
    *,
    rule_reasons: Sequence[str],
    had_personal_data: bool,
    grounding: float,
    classification: Classification | None,
    settings: Settings,
) -> list[str]:
    """Every reason, in a stable order, for which the message itself needs a person."""
    reasons = list(rule_reasons)
    if had_personal_data:
        reasons.append(PERSONAL_DATA)
    if grounding < settings.chat_grounding_min_score:
        reasons.append(LOW_GROUNDING)
    if classification is not None:
        reasons.extend(classification.reasons)
        if classification.uncertain:
            reasons.append(MODEL_UNCERTAIN)
    return list(dict.fromkeys(reasons))

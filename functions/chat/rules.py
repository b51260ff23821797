"""The rule half of the human-approval policy: what in a customer's message calls for a person.

The rules live in ``config/policy.toml``, one ``[[rules]]`` table per reason code. A rule fires
when one of its ``patterns`` matches and none of its ``exclude`` patterns does. The text is
already PII-masked, so patterns may use placeholders (``[계좌번호]`` near 환불 asks for a refund).
Each pattern is tried on two forms of the text, NFKC and lower-cased:

- with spaces kept, for English, which needs word boundaries ("sue" is inside "issue");
- with all whitespace removed, for Korean, whose spacing is inconsistent ("환불 해 주세요",
  "환불해주세요"): Korean patterns are written without spaces.

Patterns get the same NFKC (compatibility jamo such as ㅅㅂ become conjoining jamo in both) and
are compiled case-insensitively, not lower-cased, which would turn ``\\S`` into ``\\s``. A bad
file (unknown key, unknown or repeated reason, no patterns, a regex that does not compile)
raises ``ValueError``: a typo must stop start-up, not quietly skip the person.
"""

import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DEFAULT_POLICY_PATH: Final = Path(__file__).parent / "config" / "policy.toml"

# The codes the chat service and the approval queue know; the file may use each once.
REASON_CODES: Final = frozenset(
    {
        "refund_or_compensation",
        "charge_dispute",
        "legal_threat",
        "account_deletion",
        "safety_incident",
        "abuse",
        "human_requested",
        "prompt_injection",
        "action_requested",
    }
)

_RULE_KEYS: Final = frozenset({"reason", "description", "patterns", "exclude"})


@dataclass(frozen=True, slots=True)
class InputRule:
    reason: str
    description: str
    patterns: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...] = ()

    def fires(self, forms: tuple[str, ...]) -> bool:
        def found(patterns: tuple[re.Pattern[str], ...]) -> bool:
            return any(pattern.search(form) for pattern in patterns for form in forms)

        return found(self.patterns) and not found(self.exclude)


@dataclass(frozen=True)
class InputRules:
    rules: tuple[InputRule, ...]

    def reasons(self, masked_text: str) -> list[str]:
        """Reason codes whose rule fires on ``masked_text``, in the file's order."""
        spaced = unicodedata.normalize("NFKC", masked_text).lower()
        forms = (spaced, "".join(spaced.split()))
        return [rule.reason for rule in self.rules if rule.fires(forms)]


def load_input_rules(path: Path) -> InputRules:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from error
    if unknown := sorted(set(document) - {"rules"}):
        raise ValueError(f"{path}: unknown top-level keys {unknown}; only [[rules]] is allowed")
    tables = document.get("rules")
    if not isinstance(tables, list) or not tables:
        raise ValueError(f"{path}: no [[rules]] tables")
    rules = tuple(
        _parse_rule(table, f"{path}, rule {number}") for number, table in enumerate(tables, 1)
    )
    reasons = [rule.reason for rule in rules]
    if repeated := sorted({reason for reason in reasons if reasons.count(reason) > 1}):
        raise ValueError(f"{path}: more than one rule for {repeated}; merge their patterns")
    return InputRules(rules=rules)


def _parse_rule(table: object, where: str) -> InputRule:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where}: must be a table")
    if unknown := sorted(set(table) - _RULE_KEYS):
        raise ValueError(f"{where}: unknown keys {unknown}; allowed are {sorted(_RULE_KEYS)}")
    reason = table.get("reason")
    if reason not in REASON_CODES:
        raise ValueError(f"{where}: unknown reason {reason!r}; known are {sorted(REASON_CODES)}")
    description = table.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{where} ({reason}): needs a description")
    patterns = _compile_all(table.get("patterns"), f"{where} ({reason}) patterns")
    if not patterns:
        raise ValueError(f"{where} ({reason}): patterns must not be empty")
    exclude = _compile_all(table.get("exclude", []), f"{where} ({reason}) exclude")
    return InputRule(reason=reason, description=description, patterns=patterns, exclude=exclude)


def _compile_all(sources: object, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise ValueError(f"{where}: must be a list of non-empty strings")
    compiled: list[re.Pattern[str]] = []
    for source in sources:
        try:
            compiled.append(re.compile(unicodedata.normalize("NFKC", source), re.IGNORECASE))
        except re.error as error:
            raise ValueError(f"{where}: bad regex {source!r}: {error}") from error
    return tuple(compiled)

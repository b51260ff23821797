"""The guard between the model and the customer.

Text is released in whole sentences, and nothing at all before the first
``CHAT_STREAM_HOLD_CHARS`` characters: by then the model's uncertainty marker, which it writes
first, has been seen, and the first sentence has been checked for personal data. Whatever a
check finds before anything is released holds the whole reply (the turn goes to a person);
after that, personal data is masked and a stray marker removed, since released text cannot be
called back. Citation numbers outside this turn's sources are dropped, and the valid ones are
renumbered in order of first use so that ``[n]`` in the text is the reply's n-th citation.
"""

import re

from functions._shared.pii import contains_personal_data, mask_personal_data

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
# A sentence ends at . ! ? (then whitespace) or at a line break.
_SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n")


class ReplyGuard:
    def __init__(self, *, source_count: int, marker: str, hold_chars: int) -> None:
        self._source_count = source_count
        self._marker = marker
        self._hold_chars = max(hold_chars, len(marker))
        self._pending = ""
        self._clean: list[str] = []
        self.cited: list[int] = []  # source numbers, in order of first use
        self.findings: set[str] = set()
        self.released_any = False
        self.held = False

    @property
    def draft(self) -> str:
        """Everything the model wrote, cleaned: what an approval holds."""
        return "".join(self._clean).strip()

    def feed(self, text: str) -> str:
        """Take model text; return what may be shown now."""
        self._pending += text
        if not self.released_any and len(self._pending.lstrip()) < self._hold_chars:
            return ""
        boundaries = list(_SENTENCE_BOUNDARY.finditer(self._pending))
        if not boundaries:
            return ""
        boundary = boundaries[-1]
        ready, self._pending = self._pending[: boundary.end()], self._pending[boundary.end() :]
        return self._release(ready)

    def finish(self) -> str:
        ready, self._pending = self._pending, ""
        return self._release(ready)

    def _release(self, text: str) -> str:
        if not self.released_any and text.lstrip().startswith(self._marker):
            self.findings.add("model_uncertain")
        if self._marker in text:
            text = text.replace(self._marker, "")
            self.findings.add("model_uncertain")
        if contains_personal_data(text):
            self.findings.add("personal_data")
            text = mask_personal_data(text)
        text = self._renumber_citations(text)
        self._clean.append(text)
        if self.held or (not self.released_any and self.findings):
            self.held = True
            return ""
        if text.strip():
            self.released_any = True
        return text

    def _renumber_citations(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            numbers = []
            for part in match.group(1).split(","):
                number = int(part)
                if 1 <= number <= self._source_count:
                    if number not in self.cited:
                        self.cited.append(number)
                    numbers.append(self.cited.index(number) + 1)
            return f"[{', '.join(str(n) for n in dict.fromkeys(numbers))}]" if numbers else ""

        return _CITATION.sub(replace, text)

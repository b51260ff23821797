"""Cutting a document into chunks for the knowledge base.

Sentences (``korean.sentence_spans``) are packed greedily up to ``target_chars``:

- a Markdown heading starts a new chunk, and no overlap crosses it;
- a paragraph break (a blank line) ends the chunk when it is at least half full;
- when the next sentence does not fit, the chunk ends and the next one starts with the trailing
  whole sentences of this one that fit in ``overlap_chars`` (the overlap);
- a sentence longer than ``target_chars`` is cut at whitespace (at a character only when a
  stretch of ``target_chars`` has none).

Every chunk is a span of the original text (``text == document[char_start:char_end]``) no longer
than ``target_chars``. ``context_text`` is what gets embedded and keyword-indexed: the document's
title, the chunk's section heading when the chunk does not begin with it, then the chunk.
"""

import bisect
import re
from dataclasses import dataclass

from functions._shared.kb.korean import sentence_spans

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(\S[^\r\n]*?)[ \t#]*$", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\r?\n")


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    text: str
    context_text: str
    char_start: int
    char_end: int


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    section: int
    paragraph: int


@dataclass(frozen=True, slots=True)
class _Section:
    start: int  # where its heading line starts (0 for the text before the first heading)
    heading: str | None
    heading_end: int


def chunk_text(*, title: str, text: str, target_chars: int, overlap_chars: int) -> list[Chunk]:
    if target_chars < 1:
        raise ValueError("target_chars must be positive")
    if overlap_chars < 0:
        raise ValueError("overlap_chars must not be negative")
    if not text.strip():
        return []
    sections = _sections(text)
    section_starts = [section.start for section in sections]
    paragraph_starts = [0, *(match.end() for match in _PARAGRAPH_BREAK.finditer(text))]
    units = [
        _Unit(
            start=piece_start,
            end=piece_end,
            section=bisect.bisect_right(section_starts, start) - 1,
            paragraph=bisect.bisect_right(paragraph_starts, start) - 1,
        )
        for start, end in sentence_spans(text)
        for piece_start, piece_end in _pieces(text, start, end, target_chars)
    ]
    groups = _pack(units, target_chars=target_chars, overlap_chars=overlap_chars)
    heading_prefix = title.strip()
    chunks: list[Chunk] = []
    for ordinal, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        section = sections[group[0].section]
        context = [heading_prefix] if heading_prefix else []
        if section.heading is not None and start >= section.heading_end:
            context.append(section.heading)
        context.append(text[start:end])
        chunks.append(
            Chunk(
                ordinal=ordinal,
                text=text[start:end],
                context_text="\n".join(context),
                char_start=start,
                char_end=end,
            )
        )
    return chunks


def _sections(text: str) -> list[_Section]:
    sections = [_Section(start=0, heading=None, heading_end=0)]
    for match in _HEADING.finditer(text):
        if match.start() == 0:
            sections.clear()
        sections.append(
            _Section(start=match.start(), heading=match.group(2), heading_end=match.end())
        )
    return sections


def _pieces(text: str, start: int, end: int, target_chars: int) -> list[tuple[int, int]]:
    """A sentence cut, at a space where possible, into pieces of at most ``target_chars``."""
    pieces: list[tuple[int, int]] = []
    while end - start > target_chars:
        limit = start + target_chars
        space = text.rfind(" ", start + 1, limit + 1)
        piece_end, next_start = (space, space + 1) if space > start else (limit, limit)
        while text[piece_end - 1].isspace():
            piece_end -= 1
        pieces.append((start, piece_end))
        start = next_start
        while text[start].isspace():
            start += 1
    pieces.append((start, end))
    return pieces


def _pack(units: list[_Unit], *, target_chars: int, overlap_chars: int) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current:
            last = current[-1]
            if unit.section != last.section or (
                unit.paragraph != last.paragraph
                and last.end - current[0].start >= target_chars // 2
            ):
                groups.append(current)
                current = []
            elif unit.end - current[0].start > target_chars:
                groups.append(current)
                current = _overlap(
                    current, unit, target_chars=target_chars, overlap_chars=overlap_chars
                )
        current.append(unit)
    if current:
        groups.append(current)
    return groups


def _overlap(
    previous: list[_Unit], unit: _Unit, *, target_chars: int, overlap_chars: int
) -> list[_Unit]:
    """The trailing whole units of ``previous`` within ``overlap_chars`` that fit with ``unit``."""
    first = len(previous)
    while first > 0:
        candidate = previous[first - 1]
        if (
            previous[-1].end - candidate.start > overlap_chars
            or unit.end - candidate.start > target_chars
        ):
            break
        first -= 1
    return previous[first:]

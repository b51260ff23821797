"""Korean text for the knowledge base: sentences, keyword terms and their synonyms.

Kiwi (``kiwipiepy``) does the morphology. It takes about a second to load and analyses roughly
100k characters a second per core, which would make it the bottleneck of ingestion, so:

- one process-wide instance is created on first use (``get_kiwi``), never at import;
- keyword terms are computed word by word (a word being a run of letters and digits) and cached
  per word: a knowledge base repeats its vocabulary, so after the first documents nearly every
  word is a cache hit. Kiwi then sees a word without its neighbours, which seldom changes the
  analysis of a content word, and makes a word's terms the same wherever it occurs;
- sentences are found from punctuation and line breaks first; only a long stretch with neither
  (chat-like text) goes to Kiwi's sentence splitter, which finds boundaries from the endings
  (…합니다, …해요) alone.

Terms are what the keyword index stores in a ``tsvector`` (``simple`` configuration) and what the
local embedder weighs most: lower-case runs of letters and digits, nothing a tsquery could
misread. Synonyms (``synonyms.txt`` next to this file, one group a line) are added at index and at
query time alike, so after editing that file every document must be reprocessed
(``ccos embed reprocess --all``).
"""

import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

SYNONYMS_PATH = Path(__file__).with_name("synonyms.txt")

T = TypeVar("T")

# A word: a run of letters and digits (Hangul, Latin, Hanja, digits), after normalisation.
_WORD = re.compile(r"[^\W_]+")
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_FULLWIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_MAX_TERM_CHARS = 64
_MAX_ANALYSED_WORD_CHARS = 1000
_WORD_CACHE_LIMIT = 100_000

_NOUNS = frozenset({"NNG", "NNP"})
# Parts a compound is joined from: 무료+배송, 재+발송, vip+등급, iphone+15, 3000+원.
_COMPOUND_PARTS = frozenset({"NNG", "NNP", "SL", "SN", "SH", "XPN", "XSN"})
_PLURAL_SUFFIX = "들"
# Stems and nouns that occur in nearly every text and say nothing about its topic. Seen without
# its neighbours, the bound noun 시 (결제 시) reads as the noun 시 (city): hence the nouns.
_STOP_STEMS = frozenset({"하", "되", "있", "같", "어떻", "그렇", "이렇", "저렇"})
_STOP_NOUNS = frozenset({"시", "수", "것", "등", "때", "중", "경우"})

# . ! ? and their ideographic and full-width forms, …, then any closing quotes or brackets.
_SENTENCE_END = re.compile(
    "[.!?\u3002\uff01\uff1f\u2026]+[\"')\\]\u201d\u2019\u300d\u300f\u300b\u3009]*(?=\\s)"
)
_LIST_MARKER = re.compile(r"(?:\d{1,3}|[A-Za-z])\.")
_LINE = re.compile(r"[^\r\n]+")
# A stretch this long with no punctuation or line break is handed to Kiwi's sentence splitter.
_KIWI_SPLIT_MIN_CHARS = 150
# Kiwi's analysis slows down more than linearly on very long inputs: feed it windows.
_KIWI_SPLIT_WINDOW_CHARS = 1000


class _Lazy(Generic[T]):
    """A value built on first use, once, even when threads ask for it at the same time."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._factory()
                    self._value = value
        return value


def _create_kiwi() -> Any:
    from kiwipiepy import Kiwi  # noqa: PLC0415 - the extension is only needed once Kiwi is

    kiwi = Kiwi()
    # The first analysis initialises the language model (another second or so): pay it here.
    kiwi.tokenize("형태소 분석기를 준비합니다.")
    return kiwi


_kiwi = _Lazy(_create_kiwi)


def get_kiwi() -> Any:
    """The process-wide Kiwi instance (thread-safe; loaded on first call, about two seconds)."""
    return _kiwi.get()


def warm_up() -> None:
    """Load Kiwi and the synonyms now (e.g. at start-up in a thread) rather than on first use."""
    get_kiwi()
    _synonyms.get()


# Sentences


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence in ``text``, in order, without surrounding whitespace.

    Line breaks always end a sentence (headings, list items, table rows); so do ``. ! ? …`` before
    whitespace, except after a list marker such as ``1.``. The spans with the whitespace between
    them cover the whole text.
    """
    spans: list[tuple[int, int]] = []
    long_spans: list[int] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for end_mark in _SENTENCE_END.finditer(text, line.start(), line.end()):
            if end_mark.group() == "." and _is_list_marker(text, line.start(), end_mark.end()):
                continue
            _add_stripped(text, start, end_mark.end(), spans, long_spans)
            start = end_mark.end()
        _add_stripped(text, start, line.end(), spans, long_spans)
    if not long_spans:
        return spans
    refined = _kiwi_sentence_spans(text, [spans[index] for index in long_spans])
    result: list[tuple[int, int]] = []
    long_iter = iter(refined)
    long_set = set(long_spans)
    for index, span in enumerate(spans):
        result.extend(next(long_iter) if index in long_set else [span])
    return result


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` as they appear in it (see ``sentence_spans``)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def _is_list_marker(text: str, line_start: int, mark_end: int) -> bool:
    token_start = mark_end - 1
    while token_start > line_start and not text[token_start - 1].isspace():
        token_start -= 1
    return _LIST_MARKER.fullmatch(text, token_start, mark_end) is not None


def _add_stripped(
    text: str, start: int, end: int, spans: list[tuple[int, int]], long_spans: list[int]
) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        if end - start >= _KIWI_SPLIT_MIN_CHARS:
            long_spans.append(len(spans))
        spans.append((start, end))


def _windows(text: str, start: int, end: int) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    while end - start > _KIWI_SPLIT_WINDOW_CHARS:
        cut = text.rfind(
            " ", start + _KIWI_SPLIT_WINDOW_CHARS // 2, start + _KIWI_SPLIT_WINDOW_CHARS
        )
        if cut <= start:
            cut = start + _KIWI_SPLIT_WINDOW_CHARS
        windows.append((start, cut))
        start = cut
    windows.append((start, end))
    return windows


def _kiwi_sentence_spans(
    text: str, long_spans: Sequence[tuple[int, int]]
) -> list[list[tuple[int, int]]]:
    windows_per_span = [_windows(text, start, end) for start, end in long_spans]
    windows = [window for span_windows in windows_per_span for window in span_windows]
    analysed = get_kiwi().split_into_sents([text[start:end] for start, end in windows])
    # Only Kiwi's sentence starts are taken: each sentence runs to the next start, so no
    # character Kiwi might skip is lost from the chunks.
    starts_per_window = [
        [window_start + sentence.start for sentence in sentences]
        for (window_start, _), sentences in zip(windows, analysed, strict=True)
    ]
    result: list[list[tuple[int, int]]] = []
    position = 0
    for span_windows in windows_per_span:
        refined: list[tuple[int, int]] = []
        for window_start, window_end in span_windows:
            starts = sorted({window_start, *starts_per_window[position]})
            position += 1
            for start, end in zip(starts, [*starts[1:], window_end], strict=True):
                _add_stripped(text, start, end, refined, [])
        result.append(refined)
    return result


# Keyword terms


def normalise(text: str) -> str:
    """NFC, full-width ASCII to ASCII, lower case, no thousands separators (3,000 → 3000)."""
    text = unicodedata.normalize("NFC", text).translate(_FULLWIDTH_TO_ASCII).lower()
    return _THOUSANDS_SEPARATOR.sub("", text)


def words(text: str) -> list[str]:
    """The normalised words of ``text``: runs of letters and digits, punctuation dropped."""
    return _WORD.findall(normalise(text))


def keyword_terms(text: str, *, expand_synonyms: bool = True) -> list[str]:
    """The terms of ``text`` for the Korean keyword index, in order, repeats kept.

    Nouns (NNG, NNP), roots (XR), Hanja (SH), numbers (SN), foreign words (SL, two letters or
    more) as they are; verb and adjective stems (VV, VA) in their dictionary form (오 → 오다);
    the joined form of a compound (무료배송, 회원탈퇴, 3000원, vip등급). Particles, endings,
    bound nouns alone, adverbs, symbols and a few words with no topic (하다, 되다, 있다, 것, 수)
    are left out. With
    ``expand_synonyms`` each term is followed by the other members of its synonym groups.
    """
    per_word = analyse_words(words(text))
    terms = [term for word_terms in per_word for term in word_terms]
    return expand(terms) if expand_synonyms else terms


def analyse_words(normalised_words: Sequence[str]) -> list[tuple[str, ...]]:
    """The terms of each word (from ``words``), synonyms not added; cached per word."""
    known: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    for word in dict.fromkeys(normalised_words):
        cached = _word_terms_cache.get(word)
        if cached is None:
            missing.append(word)
        else:
            known[word] = cached
    if missing:
        analysed = dict(zip(missing, _analyse(missing), strict=True))
        _remember(_word_terms_cache, analysed)
        known.update(analysed)
    return [known[word] for word in normalised_words]


_word_terms_cache: dict[str, tuple[str, ...]] = {}
_cache_lock = threading.Lock()


def _remember(cache: dict[str, Any], entries: dict[str, Any]) -> None:
    with _cache_lock:
        # Emptied rather than evicted one by one: cheap, and the vocabulary refills it quickly.
        if len(cache) + len(entries) > _WORD_CACHE_LIMIT:
            cache.clear()
        cache.update(entries)


def _analyse(batch: Sequence[str]) -> list[tuple[str, ...]]:
    analysable = [word for word in batch if len(word) <= _MAX_ANALYSED_WORD_CHARS]
    kiwi = get_kiwi()
    # A list goes to Kiwi's own thread pool (every core); one word is cheaper in this thread.
    tokens: Iterable[Any] = (
        [kiwi.tokenize(analysable[0])] if len(analysable) == 1 else kiwi.tokenize(analysable)
    )
    by_word = dict(zip(analysable, tokens, strict=True))
    return [_terms(by_word[word]) if word in by_word else () for word in batch]


def _terms(tokens: Sequence[Any]) -> tuple[str, ...]:
    terms: list[str] = []
    compound: list[str] = []
    compound_tags: list[str] = []
    previous_end = -1

    def close_compound() -> None:
        if len(compound) >= 2 and any(tag != "SN" for tag in compound_tags):
            terms.append("".join(compound))
        compound.clear()
        compound_tags.clear()

    for token in tokens:
        form: str = token.form
        tag = str(token.tag).split("-", 1)[0]  # VV-I, VA-R: irregular stems
        contiguous = token.start == previous_end
        previous_end = token.start + token.len
        # A bound noun right after a number is a unit: 3일, 3000원, 2개.
        part = (tag in _COMPOUND_PARTS and form != _PLURAL_SUFFIX) or (
            tag == "NNB" and contiguous and compound_tags[-1:] == ["SN"]
        )
        if part:
            if not contiguous:
                close_compound()
            compound.append(form)
            compound_tags.append(tag)
        else:
            close_compound()
        term = _standalone_term(form, tag)
        if term is not None:
            terms.append(term)
    close_compound()
    return tuple(term for term in terms if _is_term(term))


def _standalone_term(form: str, tag: str) -> str | None:
    if tag in _NOUNS:
        return None if form in _STOP_NOUNS else form
    if tag in {"SN", "SH", "XR"}:
        return form
    if tag == "SL":
        return form if len(form) >= 2 else None
    if tag in {"VV", "VA"}:
        return None if form in _STOP_STEMS else form + "다"
    return None


def _is_term(term: str) -> bool:
    return len(term) <= _MAX_TERM_CHARS and _WORD.fullmatch(term) is not None


# Synonyms


def load_synonyms(path: Path) -> dict[str, tuple[str, ...]]:
    """Each term of the file to the other members of its groups.

    The file holds one group a line, its terms separated by commas; ``#`` starts a comment. A
    term must be one keyword term as ``keyword_terms`` produces it (회원탈퇴, not 회원 탈퇴: a
    phrase is an error, not two synonyms). A term in two groups gets the members of both.
    """
    others: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entries = [entry.strip() for entry in normalise(line.split("#", 1)[0]).split(",")]
        group = list(dict.fromkeys(entry for entry in entries if entry))
        if not group:
            continue
        invalid = [term for term in group if not _is_term(term)]
        if invalid:
            raise ValueError(f"{path}:{number}: not a single keyword term: {', '.join(invalid)}")
        if len(group) == 1:
            raise ValueError(f"{path}:{number}: a synonym group needs two terms or more")
        for term in group:
            members = others.setdefault(term, [])
            members.extend(other for other in group if other != term and other not in members)
    return {term: tuple(members) for term, members in others.items()}


_synonyms = _Lazy(lambda: load_synonyms(SYNONYMS_PATH))


def expand(terms: Iterable[str]) -> list[str]:
    """``terms`` with the synonyms of each term following it."""
    table = _synonyms.get()
    expanded: list[str] = []
    for term in terms:
        expanded.append(term)
        expanded.extend(table.get(term, ()))
    return expanded

"""Embedders: text to the one vector size every chunk column holds.

Two behind one interface (``Embedder``), chosen by ``build_embedder``:

- ``LocalHashingEmbedder``: no download, no network. Hashed character 2- and 3-grams of each word
  (with word-boundary markers) and, weighted higher, the Korean keyword terms of ``korean``
  (Kiwi morphemes with synonyms), each with sublinear term frequency, signed feature hashing
  (CRC-32: stable across processes, unlike ``hash()``), L2-normalised. Documents and queries are
  embedded alike.
- ``OpenAIEmbedder``: ``text-embedding-3-*`` with ``dimensions`` set; requests kept within the
  API's limits, a bounded number in flight, the SDK's own retries, personal data masked first.

A blank text has no meaning to embed: both raise ``ValueError`` for one.
"""

import asyncio
import re
import threading
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from functions._shared.errors import DependencyUnavailable
from functions._shared.kb import korean
from functions._shared.settings import Settings

if TYPE_CHECKING:
    # The SDK takes about half a second to import: only the OpenAI embedder pays for it.
    import openai

# The API's own limits per request (the settings may only lower them).
OPENAI_MAX_INPUTS_PER_REQUEST = 2048
OPENAI_MAX_TOKENS_PER_REQUEST = 300_000
_API_KEY = re.compile(r"\b(?:sk|key)-\S*")


class EmbeddingError(DependencyUnavailable):
    """The embedding provider failed after its retries (the message carries no secret)."""

    code = "embedding_failed"


class Embedder(Protocol):
    """``name`` is stored with each chunk: a query is only comparable with chunks of that name."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    async def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


def build_embedder(settings: Settings) -> Embedder:
    if settings.effective_embedding_provider == "openai":
        return OpenAIEmbedder(settings)
    return LocalHashingEmbedder(settings.embedding_dimensions)


def _reject_blank(texts: Sequence[str]) -> None:
    blank = [index for index, text in enumerate(texts) if not text.strip()]
    if blank:
        raise ValueError(f"cannot embed blank text (inputs {blank[:10]})")


# Local


_NGRAM_SIZES = (2, 3)
# Long "words" (hashes, unspaced runs) would flood a vector with n-grams: the first characters do.
_MAX_NGRAM_WORD_CHARS = 32
_TERM_SEED = 0x9E3779B9
_NGRAM_WEIGHT = 1.0
_TERM_WEIGHT = 1.5
_FEATURE_CACHE_LIMIT = 100_000
_LOCAL_BATCH_SIZE = 256

_WordFeatures = tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]
_feature_cache: dict[str, _WordFeatures] = {}
_feature_cache_lock = threading.Lock()


class LocalHashingEmbedder:
    def __init__(self, dimensions: int) -> None:
        if dimensions < 1:
            raise ValueError("dimensions must be positive")
        self.dimensions = dimensions
        self.name = f"local-hash-v1:{dimensions}"

    async def embed_documents(self, texts: list[str]) -> list[list[float]]:
        _reject_blank(texts)
        vectors: list[list[float]] = []
        # Batches keep the event loop's other work moving between them.
        for start in range(0, len(texts), _LOCAL_BATCH_SIZE):
            batch = texts[start : start + _LOCAL_BATCH_SIZE]
            matrix = await asyncio.to_thread(self.embed_matrix, batch)
            vectors.extend(matrix.tolist())
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    def embed_matrix(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The vectors of ``texts`` as rows (synchronous, CPU-bound: call it off the loop)."""
        words_per_text = [korean.words(text) for text in texts]
        features = _word_features({word for words in words_per_text for word in words})
        ngram_ids: list[npt.NDArray[np.uint32]] = []
        term_ids: list[npt.NDArray[np.uint32]] = []
        rows: list[int] = []
        for row, words in enumerate(words_per_text):
            for ngrams, terms in (features[word] for word in words or [""]):
                ngram_ids.append(ngrams)
                term_ids.append(terms)
                rows.append(row)
        ngram_block = self._hashed_block(ngram_ids, rows, len(texts))
        term_block = self._hashed_block(term_ids, rows, len(texts))
        matrix = _NGRAM_WEIGHT * ngram_block + _TERM_WEIGHT * term_block
        return _normalised_rows(matrix).astype(np.float32)

    def _hashed_block(
        self, ids: list[npt.NDArray[np.uint32]], rows: list[int], row_count: int
    ) -> npt.NDArray[np.float64]:
        """Rows of signed, hashed, sublinear term frequencies, each L2-normalised."""
        dimensions = self.dimensions
        if not ids:
            return np.zeros((row_count, dimensions))
        lengths = np.fromiter((len(array) for array in ids), dtype=np.int64, count=len(ids))
        feature = np.concatenate(ids).astype(np.uint64)
        row = np.repeat(np.asarray(rows, dtype=np.uint64), lengths)
        keys, counts = np.unique((row << np.uint64(32)) | feature, return_counts=True)
        key_rows = (keys >> np.uint64(32)).astype(np.int64)
        hashes = keys & np.uint64(0xFFFFFFFF)
        buckets = (hashes % np.uint64(dimensions)).astype(np.int64)
        signs = np.where((hashes >> np.uint64(31)) & np.uint64(1), -1.0, 1.0)
        weights = signs * (1.0 + np.log(counts))
        block = np.bincount(
            key_rows * dimensions + buckets, weights=weights, minlength=row_count * dimensions
        )
        return _normalised_rows(block.astype(np.float64).reshape(row_count, dimensions))


def _normalised_rows(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: npt.NDArray[np.float64] = np.zeros_like(matrix)
    np.divide(matrix, norms, out=normalised, where=norms > 0)
    return normalised


# A text with no letters or digits at all (only symbols or emoji) is embedded as this one feature.
_NO_WORDS: _WordFeatures = (
    np.array([zlib.crc32(b"\x00no words")], dtype=np.uint32),
    np.array([], dtype=np.uint32),
)


def _word_features(words: set[str]) -> dict[str, _WordFeatures]:
    found: dict[str, _WordFeatures] = {"": _NO_WORDS}
    missing: list[str] = []
    for word in words:
        cached = _feature_cache.get(word)
        if cached is None:
            missing.append(word)
        else:
            found[word] = cached
    if missing:
        terms_per_word = korean.analyse_words(missing)
        computed = {
            word: (_ngram_hashes(word), _term_hashes(korean.expand(terms)))
            for word, terms in zip(missing, terms_per_word, strict=True)
        }
        with _feature_cache_lock:
            if len(_feature_cache) + len(computed) > _FEATURE_CACHE_LIMIT:
                _feature_cache.clear()
            _feature_cache.update(computed)
        found.update(computed)
    return found


def _ngram_hashes(word: str) -> npt.NDArray[np.uint32]:
    marked = f"<{word[:_MAX_NGRAM_WORD_CHARS]}>"
    grams = [
        marked[start : start + size]
        for size in _NGRAM_SIZES
        for start in range(len(marked) - size + 1)
    ]
    return np.array([zlib.crc32(gram.encode()) for gram in grams], dtype=np.uint32)


def _term_hashes(terms: Sequence[str]) -> npt.NDArray[np.uint32]:
    return np.array([zlib.crc32(term.encode(), _TERM_SEED) for term in terms], dtype=np.uint32)


# OpenAI


def estimate_tokens(text: str) -> int:
    """An upper bound on the tokens of ``text`` for OpenAI's embedding models, without tiktoken.

    Their tokenizers are byte-level BPE: every token covers at least one UTF-8 byte, so the byte
    count can never be exceeded. Tighter guesses such as bytes / 2 hold for common Korean but not
    for rare syllables (3 bytes, up to 3 tokens), and a request over the limit fails as a whole.
    """
    return len(text.encode("utf-8"))


class OpenAIEmbedder:
    def __init__(self, settings: Settings, client: "openai.AsyncOpenAI | None" = None) -> None:
        import openai  # noqa: PLC0415

        if client is None:
            if settings.openai_api_key is None:
                raise ValueError("OPENAI_API_KEY is required for the OpenAI embedder")
            client = openai.AsyncOpenAI(
                api_key=settings.openai_api_key.get_secret_value(),
                base_url=settings.openai_base_url,
                timeout=settings.openai_timeout_seconds,
                max_retries=settings.openai_max_retries,
            )
        self._client = client
        self._model = settings.embedding_model
        self.dimensions = settings.embedding_dimensions
        self.name = f"openai:{settings.embedding_model}:{settings.embedding_dimensions}"
        self._max_inputs = min(settings.embedding_batch_size, OPENAI_MAX_INPUTS_PER_REQUEST)
        self._max_tokens = min(
            settings.embedding_max_tokens_per_request, OPENAI_MAX_TOKENS_PER_REQUEST
        )
        self._concurrency = settings.embedding_concurrency

    async def embed_documents(self, texts: list[str]) -> list[list[float]]:
        from functions._shared.pii import mask_personal_data  # noqa: PLC0415 - needed only once text leaves

        _reject_blank(texts)
        masked = [mask_personal_data(text) for text in texts]
        batches = self.batches(masked)
        # Per call, not per instance: a semaphore is bound to the event loop that first waits on
        # it, and this embedder outlives loops (tests, Lambda invocations).
        in_flight = asyncio.Semaphore(self._concurrency)
        tasks = [asyncio.create_task(self._embed_batch(batch, in_flight)) for batch in batches]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return [vector for vectors in results for vector in vectors]

    async def embed_query(self, text: str) -> list[float]:
        return (await self.embed_documents([text]))[0]

    def batches(self, texts: Sequence[str]) -> list[list[str]]:
        """``texts`` in order, cut into requests within the input and token limits."""
        batches: list[list[str]] = []
        current: list[str] = []
        current_tokens = 0
        for text in texts:
            tokens = estimate_tokens(text)
            if current and (
                len(current) >= self._max_inputs or current_tokens + tokens > self._max_tokens
            ):
                batches.append(current)
                current, current_tokens = [], 0
            current.append(text)
            current_tokens += tokens
        if current:
            batches.append(current)
        return batches

    async def _embed_batch(
        self, batch: list[str], in_flight: asyncio.Semaphore
    ) -> list[list[float]]:
        import openai  # noqa: PLC0415  (already loaded by __init__; the name is local)

        async with in_flight:
            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=batch, dimensions=self.dimensions
                )
            except openai.APIError as error:
                raise EmbeddingError(_describe(error)) from None
        data = sorted(response.data, key=lambda item: item.index)
        if [item.index for item in data] != list(range(len(batch))) or any(
            len(item.embedding) != self.dimensions for item in data
        ):
            raise EmbeddingError(
                f"OpenAI embeddings: expected {len(batch)} vectors of {self.dimensions} "
                f"dimensions, got {len(data)} of {sorted({len(item.embedding) for item in data})}"
            )
        return [item.embedding for item in data]


def _describe(error: "openai.APIError") -> str:
    """What failed, without the request (the key is in its headers) or the inputs."""
    import openai  # noqa: PLC0415

    parts = [f"OpenAI embeddings request failed: {type(error).__name__}"]
    if isinstance(error, openai.APIStatusError):
        parts.append(f"status {error.status_code}")
        if error.request_id:
            parts.append(f"request id {error.request_id}")
    if error.code:
        parts.append(f"code {error.code}")
    body: Any = error.body
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str) and message:
        # OpenAI's 401 message quotes the key it was given.
        parts.append(_API_KEY.sub("[key]", message)[:200])
    return "; ".join(parts)

"""A fake OpenAI-compatible server for benchmarks and fault injection, run as its own process.

    .venv/bin/python bench/fake_openai.py --port 0 [--ttft-ms 200] [--tokens-per-second 50]
                                          [--reply-tokens 60] [--fault none|429|500|hang|cut]

Prints ``READY <port>`` on stdout once it listens (``--port 0``: a free port, the one printed).

- ``POST /v1/chat/completions``: waits ``--ttft-ms``, then produces ``--reply-tokens`` tokens (one
  Korean word each, from a fixed answer citing ``[1]``) at ``--tokens-per-second``; streamed as
  OpenAI ``chat.completion.chunk`` SSE with ``stream: true`` (role first, ``finish_reason:
  "stop"``, a usage chunk with ``stream_options.include_usage``, then ``[DONE]``), else one
  ``chat.completion`` once the whole answer would have been generated. A request with
  ``response_format`` (the app's classifier) is answered at once with ``CLASSIFIER_REPLY``.
- ``POST /v1/embeddings``: deterministic unit vectors of the requested ``dimensions`` (signed
  hashing of character bigrams, so texts sharing words are near), floats or base64.
- ``GET /_fake/stats``: requests served per endpoint and fault, for tests and the benchmark.

Faults, for the whole server (``--fault``) or one request (header ``X-Fake-Fault``): ``429`` and
``500`` answer OpenAI's error body; ``hang`` never answers; ``cut`` drops the connection after a
few chunks (streams) or half the body, without ``[DONE]``.
"""

import argparse
import array
import asyncio
import base64
import json
import logging
import time
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Fault = Literal["none", "429", "500", "hang", "cut"]
FAULTS: tuple[Fault, ...] = ("none", "429", "500", "hang", "cut")
CLASSIFIER_REPLY = '{"reasons": [], "uncertain": false}'
ANSWER = (
    "문의하신 내용은 안내된 기준에 따라 처리됩니다 [1]. 결제가 완료된 주문은 영업일 기준 1~3일 "
    "안에 출고되며, 진행 상황은 주문 내역에서 확인하실 수 있습니다 [1]. 추가로 궁금하신 점이 "
    "있으시면 언제든지 말씀해 주세요."
)
ANSWER_WORDS = tuple(ANSWER.split())
CUT_AFTER_CHUNKS = 3
ERRORS: dict[Fault, tuple[int, dict[str, Any]]] = {
    "429": (
        429,
        {
            "message": "Rate limit reached for requests (fake).",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        },
    ),
    "500": (
        500,
        {
            "message": "The server had an error while processing your request (fake).",
            "type": "server_error",
            "param": None,
            "code": "server_error",
        },
    ),
}


class StreamCut(Exception):
    """Raised inside a response body: uvicorn then drops the connection mid-body."""


class _HideStreamCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


class FakeOpenAI:
    def __init__(
        self, *, ttft_ms: float, tokens_per_second: float, reply_tokens: int, fault: Fault
    ) -> None:
        self.ttft_seconds = ttft_ms / 1000
        self.token_interval = 1 / tokens_per_second
        self.reply_tokens = reply_tokens
        self.fault = fault
        self.stats: Counter[str] = Counter()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat_completions, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/_fake/stats", self.read_stats, methods=["GET"]),
            ]
        )

    def fault_for(self, request: Request) -> Fault:
        requested = request.headers.get("x-fake-fault", self.fault)
        return requested if requested in FAULTS else self.fault

    async def read_stats(self, request: Request) -> Response:
        return JSONResponse(dict(self.stats))

    async def chat_completions(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        fault = self.fault_for(request)
        structured = body.get("response_format") is not None
        self.stats["chat.structured" if structured else "chat"] += 1
        if failure := await self.failure(request, fault):
            return failure
        completion = Completion(body)
        if structured:
            tokens = [CLASSIFIER_REPLY]
            ttft, interval = 0.0, 0.0
        else:
            tokens = answer_tokens(self.reply_tokens)
            ttft, interval = self.ttft_seconds, self.token_interval
        if body.get("stream"):
            chunks = completion.stream(tokens, ttft=ttft, interval=interval, cut=fault == "cut")
            return StreamingResponse(chunks, media_type="text/event-stream")
        await asyncio.sleep(ttft + interval * (len(tokens) - 1))
        payload = json.dumps(completion.whole("".join(tokens), len(tokens)), ensure_ascii=False)
        if fault == "cut":
            return StreamingResponse(cut_body(payload.encode()), media_type="application/json")
        return Response(payload, media_type="application/json")

    async def embeddings(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        fault = self.fault_for(request)
        self.stats["embeddings"] += 1
        if failure := await self.failure(request, fault):
            return failure
        inputs = body["input"]
        texts = [inputs] if isinstance(inputs, str) else [str(item) for item in inputs]
        dimensions = int(body.get("dimensions") or 1536)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text, dimensions)
            encoded: object = (
                base64.b64encode(array.array("f", vector).tobytes()).decode()
                if as_base64
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(text) for text in texts)
        payload = json.dumps(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "text-embedding-3-small"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
        if fault == "cut":
            return StreamingResponse(cut_body(payload.encode()), media_type="application/json")
        return Response(payload, media_type="application/json")

    async def failure(self, request: Request, fault: Fault) -> Response | None:
        if fault != "none":
            self.stats[f"fault.{fault}"] += 1
        if fault == "hang":
            # Never answer: only the client giving up ends the request.
            while (await request.receive())["type"] != "http.disconnect":
                pass
            return Response(status_code=499)
        if fault in ERRORS:
            status, error = ERRORS[fault]
            return JSONResponse({"error": error}, status_code=status)
        return None


class Completion:
    """One completion's identity and the JSON of its chunks (or of the whole)."""

    def __init__(self, request_body: dict[str, Any]) -> None:
        self.id = f"chatcmpl-fake{uuid.uuid4().hex[:20]}"
        self.created = int(time.time())
        self.model = str(request_body.get("model", "gpt-4o-mini"))
        options = request_body.get("stream_options") or {}
        self.include_usage = bool(options.get("include_usage"))
        self.prompt_tokens = sum(
            len(str(message.get("content") or "")) // 2 + 4
            for message in request_body.get("messages", [])
        )

    def usage(self, completion_tokens: int) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
        }

    def whole(self, content: str, completion_tokens: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage(completion_tokens),
        }

    def chunk(self, choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = usage
        return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return self.chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )

    def content_chunks(self, tokens: list[str]) -> list[bytes]:
        # One chunk serialised, the others spliced into it: a thousand streams at 50 tokens/s
        # must not make this server the bottleneck.
        head, tail = self.delta({"content": "\0"}).split(b'"\\u0000"')
        return [head + json.dumps(token, ensure_ascii=False).encode() + tail for token in tokens]

    async def stream(
        self, tokens: list[str], *, ttft: float, interval: float, cut: bool
    ) -> AsyncIterator[bytes]:
        chunks = self.content_chunks(tokens)
        await asyncio.sleep(ttft)
        started = time.perf_counter()
        yield self.delta({"role": "assistant", "content": "", "refusal": None})
        for number, chunk in enumerate(chunks):
            if cut and number == CUT_AFTER_CHUNKS:
                raise StreamCut
            # On a schedule rather than a fixed sleep per token: a busy loop delays some tokens,
            # not every later one.
            delay = started + number * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            yield chunk
        yield self.delta({}, finish_reason="stop")
        if self.include_usage:
            yield self.chunk([], usage=self.usage(len(tokens)))
        yield b"data: [DONE]\n\n"


def answer_tokens(count: int) -> list[str]:
    words = [ANSWER_WORDS[number % len(ANSWER_WORDS)] for number in range(count)]
    return words[:1] + [" " + word for word in words[1:]]


async def cut_body(payload: bytes) -> AsyncIterator[bytes]:
    yield payload[: len(payload) // 2]
    raise StreamCut


def embed(text: str, dimensions: int) -> list[float]:
    """Signed feature hashing of character bigrams (CRC-32: the same in every process)."""
    vector = [0.0] * dimensions
    compact = " ".join(text.split())
    for start in range(max(1, len(compact) - 1)):
        digest = zlib.crc32(compact[start : start + 2].encode())
        vector[digest % dimensions] += 1.0 if digest & 0x8000_0000 else -1.0
    norm = sum(value * value for value in vector) ** 0.5 or 1.0
    return [value / norm for value in vector]


class ReadyServer(uvicorn.Server):
    """uvicorn that prints ``READY <port>`` once it listens, for a parent process to wait on."""

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1]
            print(f"READY {port}", flush=True)


def serve(app: Any, *, host: str, port: int) -> None:
    logging.getLogger("uvicorn.error").addFilter(_HideStreamCuts())
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=1,
    )
    ReadyServer(config).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--reply-tokens", type=int, default=60)
    parser.add_argument("--fault", choices=FAULTS, default="none")
    arguments = parser.parse_args()
    fake = FakeOpenAI(
        ttft_ms=arguments.ttft_ms,
        tokens_per_second=arguments.tokens_per_second,
        reply_tokens=arguments.reply_tokens,
        fault=arguments.fault,
    )
    serve(fake.app, host=arguments.host, port=arguments.port)


if __name__ == "__main__":
    main()

"""The baseline for bench/chat_load.py: the least any streaming chat endpoint must do.

    .venv/bin/python bench/bare_proxy.py --port 0 --upstream http://127.0.0.1:PORT/v1

``POST /turn`` with ``{"content": "..."}`` asks the upstream (through the ``openai`` SDK's
``AsyncOpenAI``, as the gateway does) for a streamed chat completion and relays it as SSE:
``event: delta`` per piece of text, then ``event: done`` with ``{"reply": {"content": ...}}``.
No database, no retrieval, no policy, no auth. Prints ``READY <port>`` once it listens.
"""

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import openai
from fake_openai import serve
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel, Field

MODEL = "gpt-4o-mini"
SYSTEM_PROMPT = "당신은 고객센터 상담원입니다. 한국어로 짧고 정확하게 답하세요."


class Turn(BaseModel):
    content: str = Field(min_length=1, max_length=4000)


def sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def build_app(upstream: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncOpenAI(base_url=upstream, api_key="fake", timeout=30) as client:
            app.state.openai = client
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/turn", response_model=None)
    async def turn(body: Turn, request: Request) -> Response:
        client: AsyncOpenAI = request.app.state.openai
        try:
            stream = await client.chat.completions.create(
                model=MODEL,
                messages=[
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": body.content},
                ],
                stream=True,
            )
        except openai.APIError as error:
            return JSONResponse({"detail": type(error).__name__}, status_code=502)
        return StreamingResponse(relay(stream), media_type="text/event-stream")

    return app


async def relay(stream: AsyncStream[ChatCompletionChunk]) -> AsyncIterator[bytes]:
    parts: list[str] = []
    try:
        async for chunk in stream:
            if chunk.choices and (text := chunk.choices[0].delta.content):
                parts.append(text)
                yield sse("delta", {"text": text})
    except (openai.APIError, httpx.HTTPError) as error:
        yield sse("error", {"detail": type(error).__name__})
        return
    finally:
        await stream.close()
    yield sse("done", {"reply": {"content": "".join(parts)}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="OpenAI base URL, e.g. http://h:p/v1")
    arguments = parser.parse_args()
    serve(build_app(arguments.upstream), host=arguments.host, port=arguments.port)


if __name__ == "__main__":
    main()

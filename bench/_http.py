"""A raw keep-alive HTTP/1.1 client for the load generators: the load client shares the two
cores with what it measures, and httpx would cost it several times the CPU per request."""

import asyncio
import json
from collections.abc import AsyncIterator


class HttpResponse:
    def __init__(self, connection: "HttpConnection", status: int, headers: dict[str, str]) -> None:
        self.connection = connection
        self.status = status
        self.headers = headers

    async def chunks(self) -> AsyncIterator[bytes]:
        reader = self.connection.stream()[0]
        if self.headers.get("transfer-encoding") == "chunked":
            while size := int((await reader.readline()).split(b";")[0], 16):
                yield (await reader.readexactly(size + 2))[:-2]
            await reader.readline()
        elif "content-length" in self.headers:
            yield await reader.readexactly(int(self.headers["content-length"]))
        else:
            self.connection.reusable = False
            while data := await reader.read(65536):
                yield data
        if self.headers.get("connection") == "close":
            self.connection.reusable = False

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reusable = False
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self._streams is not None
        return self._streams

    async def request(
        self, method: str, path: str, body: object, headers: dict[str, str]
    ) -> HttpResponse:
        if self._streams is None or not self.reusable:
            self.close()
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        self.reusable = False  # until this response has been read to its end
        payload = json.dumps(body, ensure_ascii=False).encode()
        lines = [f"{method} {path} HTTP/1.1", "Host: bench", "Content-Type: application/json"]
        lines += [f"Content-Length: {len(payload)}"] + [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before the response")
        response_headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        self.reusable = True
        return HttpResponse(self, int(status_line.split()[1]), response_headers)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

"""A lean HTTP/1.1 keep-alive load generator on asyncio streams.

Why not httpx: on this 2-core machine a single-process ``httpx.AsyncClient`` tops out
near 240 requests/s even against a server that does nothing, so it would measure itself,
not the server. Like Triton's perf_analyzer or wrk, the load generator must cost far less
than what it measures: requests are pre-encoded bytes on persistent connections, and a
response is read as a status line, headers and a ``Content-Length`` (or chunked) body.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str, path: str) -> "Target":
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// URLs are supported, got {url!r}")
        return cls(parts.hostname, parts.port or 80, path)

    def request(self, body: bytes) -> bytes:
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode("ascii") + body


class Connection:
    """One persistent connection; ``send`` returns (status, body)."""

    def __init__(self, target: Target):
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunked()
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, body

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readline()).strip().split(b";")[0], 16)
            if size == 0:
                await self.reader.readline()
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


async def timed_requests(target: Target, requests: list[bytes], count: int) -> tuple[list[float], int, int]:
    """``count`` sequential requests on one connection: latencies (ms), errors, mean response bytes."""
    connection = Connection(target)
    samples, errors, received = [], 0, 0
    try:
        for i in range(count):
            started = time.perf_counter()
            try:
                status, body = await connection.send(requests[i % len(requests)])
            except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
                await connection.close()
                status, body = 0, b""
            samples.append((time.perf_counter() - started) * 1e3)
            errors += status != 200
            received += len(body)
    finally:
        await connection.close()
    return samples, errors, received // max(count, 1)


async def closed_loop(target: Target, requests: list[bytes], concurrency: int, seconds: float, *,
                      latencies: bool = False) -> dict:
    """``concurrency`` clients, each sending its next request as soon as the last returns.
    With ``latencies`` the result also holds ``latency_ms`` (percentiles of every request)."""
    done = errors = 0
    samples: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        nonlocal done, errors
        connection = Connection(target)
        i = offset
        try:
            while (sent := time.perf_counter()) < deadline:
                try:
                    status, _ = await connection.send(requests[i % len(requests)])
                except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
                    await connection.close()
                    status = 0
                if latencies:
                    samples.append((time.perf_counter() - sent) * 1e3)
                done += status == 200
                errors += status != 200
                i += concurrency
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    result = {"concurrency": concurrency, "rows_per_s": done / elapsed, "requests": done, "errors": errors,
              "seconds": elapsed}
    if latencies and samples:
        from edgekit.benchmarks.stats import LatencyStats

        result["latency_ms"] = LatencyStats.of(samples).to_dict()
    return result

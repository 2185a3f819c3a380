"""A small, fast HTTP/1.1 load generator for the AuthZEN benchmark (run as its own process).

Keep-alive connections on uvloop, requests pre-serialised, responses parsed
just enough (status, Content-Length, body) to check each decision. It must
cost the client less than the server, or the benchmark measures the client.

    python bench/http_load.py PORT BEARER REQUESTS.json CONCURRENCY PATH OUT.json
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any


async def _connection(
    port: int, head: bytes, bodies: list[bytes], start: int, step: int, out: list[Any]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for index in range(start, len(bodies), step):
            body = bodies[index]
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            status_and_headers = await reader.readuntil(b"\r\n\r\n")
            status = int(status_and_headers[9:12])
            length = 0
            for line in status_and_headers.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            payload = await reader.readexactly(length)
            out[index] = (status, payload)
    finally:
        writer.close()


async def _run(port: int, bearer: str, bodies: list[bytes], concurrency: int, path: str) -> float:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {bearer}\r\n"
        "Content-Type: application/json\r\nX-Request-ID: bench\r\nContent-Length: "
    ).encode()
    out: list[Any] = [None] * len(bodies)
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, head, bodies, i, concurrency, out) for i in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    _run.results = out  # type: ignore[attr-defined]
    return elapsed


def main() -> None:
    port, bearer, requests_file, concurrency, path, out_file = sys.argv[1:7]
    with open(requests_file, "rb") as handle:
        bodies = [line.rstrip(b"\n") for line in handle if line.strip()]
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a uvicorn[standard] dependency
        pass
    elapsed = asyncio.run(_run(int(port), bearer, bodies, int(concurrency), path))
    results = _run.results  # type: ignore[attr-defined]
    statuses: dict[int, int] = {}
    decisions: list[Any] = []
    for status, payload in results:
        statuses[status] = statuses.get(status, 0) + 1
        document = json.loads(payload)
        if "evaluations" in document:
            decisions.extend(item.get("decision") for item in document["evaluations"])
        else:
            decisions.append(document.get("decision"))
    with open(out_file, "w") as handle:
        json.dump({"elapsed": elapsed, "statuses": statuses, "decisions": decisions}, handle)


if __name__ == "__main__":
    main()

"""CPU per request of the core's hot routes, in-process, beside FastAPI's own floor for them.

No socket, no uvicorn and no k6: each request is one call of the ASGI app, 50 in flight like
the k6 mix, timed with the process's CPU clock (the SQLite work included: it runs inline).
So the figures leave out what every server pays alike (HTTP parsing, the socket, the load
generator) and split the rest: "floor" is a FastAPI app whose routes take exactly what
submit and status take (the task body, one dependency, the Idempotency-Key header, a path
id) and do nothing, so core - floor is what our code adds. Apps and routes alternate
within each round (docs/benchmarks.md, "The collector's full collections").

    .venv/bin/python -m tests.bench.bench_request_cpu --rounds 5
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from unittest import mock

from fastapi import Body, Depends, FastAPI, Header, Request, Response
from pydantic import SecretStr
from starlette.types import ASGIApp, Message

from app.core.config import Settings
from app.main import create_app
from app.models import TaskCreate
from contract.keys import ApiKey, Role

IN_FLIGHT = 50
TASK_BODY = json.dumps({"kind": "python", "payload": {"code": "print(6 * 7)"}}).encode()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes = b""


# A started app and the calls to time on it, by route name.
Started = tuple[ASGIApp, dict[str, Call]]


@dataclass(frozen=True)
class Target:
    """An app under test: how to start it (in a work directory) and the key its routes want."""

    name: str
    started: Callable[[Path], AbstractAsyncContextManager[Started]]
    key: str


async def request(app: ASGIApp, call: Call, key: str) -> tuple[int, bytes]:
    """One HTTP request through the ASGI app: its status and body.

    Not httpx's ASGITransport: its client's own work per request would be timed with the app.
    """
    headers = [
        (b"host", b"bench"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(call.body)).encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": call.method, "scheme": "http", "path": call.path,
        "raw_path": call.path.encode(), "query_string": b"", "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    pending = [{"type": "http.request", "body": call.body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # a client that stays: the app answers before this
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


async def cpu_ms_per_request(app: ASGIApp, call: Call, key: str, requests: int) -> float:
    """CPU time per request with IN_FLIGHT requests at a time; every answer must be 2xx."""

    async def checked() -> None:
        status, body = await request(app, call, key)
        if not 200 <= status < 300:
            raise RuntimeError(f"{call.method} {call.path} answered {status}: {body[:200]!r}")

    for _ in range(IN_FLIGHT):  # warm: caches, lazy imports, the first rows
        await checked()
    batches = max(1, requests // IN_FLIGHT)
    start = time.process_time()
    for _ in range(batches):
        await asyncio.gather(*(checked() for _ in range(IN_FLIGHT)))
    spent = time.process_time() - start
    return spent * 1000 / (batches * IN_FLIGHT)


SUBMIT = Call("POST", "/api/v1/execution/execute", TASK_BODY)
HELLO = Call("GET", "/hello")


def core_target() -> Target:
    key = str(uuid.uuid4())

    @asynccontextmanager
    async def started(where: Path) -> AsyncIterator[Started]:
        settings = Settings(
            database_url=f"sqlite:///{where / 'hypercode.db'}",
            api_keys=[ApiKey(name="client", key=SecretStr(key), roles=[Role.client])],
        )
        with mock.patch.dict(os.environ, {"OTEL_SDK_DISABLED": "true"}):  # as bench_core runs it
            app = create_app(settings)
        async with app.router.lifespan_context(app):
            status, body = await request(app, SUBMIT, key)
            if status != 202:
                raise RuntimeError(f"the core refused the first submit ({status}): {body!r}")
            status_call = Call("GET", f"/api/v1/execution/{json.loads(body)['id']}")
            yield app, {"submit": SUBMIT, "status": status_call}

    return Target("core", started, key)


def floor_app() -> FastAPI:
    """submit's and status's parameters, nothing done with them (mirrors routes/execution.py)."""
    app = FastAPI()

    async def caller(request: Request) -> str:
        return "client"

    @app.post("/api/v1/execution/execute", status_code=202)
    async def submit(
        body: Annotated[TaskCreate, Body()],
        auth: Annotated[str, Depends(caller)],
        request: Request,
        response: Response,
        idempotency_key: Annotated[
            str | None, Header(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
        ] = None,
    ) -> dict[str, str]:
        return {"id": "0"}

    @app.get("/api/v1/execution/{task_id}")
    async def status(task_id: uuid.UUID, auth: Annotated[str, Depends(caller)]) -> dict[str, str]:
        return {"id": str(task_id)}

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def floor_target() -> Target:
    @asynccontextmanager
    async def started(where: Path) -> AsyncIterator[Started]:
        status_call = Call("GET", f"/api/v1/execution/{uuid.uuid4()}")
        yield floor_app(), {"submit": SUBMIT, "status": status_call, "hello": HELLO}

    return Target("floor", started, "unused")


async def measure(rounds: int, requests: int, workdir: Path) -> list[dict[str, float]]:
    """Per round, ms of CPU per request for each `app route`, apps alternating."""
    results = []
    targets = [core_target(), floor_target()]
    for index in range(rounds):
        figures: dict[str, float] = {}
        for target in targets if index % 2 == 0 else targets[::-1]:
            where = workdir / f"{target.name}-{index}"
            where.mkdir(parents=True)
            async with target.started(where) as (app, calls):
                for route, call in calls.items():
                    figures[f"{target.name} {route}"] = await cpu_ms_per_request(
                        app, call, target.key, requests
                    )
        results.append(figures)
    return results


def report(results: list[dict[str, float]]) -> str:
    medians = {name: statistics.median(r[name] for r in results) for name in results[0]}
    lines = ["| route | core ms | floor ms | core - floor ms |", "|---|---|---|---|"]
    for route in ("submit", "status"):
        core, floor = medians[f"core {route}"], medians[f"floor {route}"]
        lines.append(f"| {route} | {core:.3f} | {floor:.3f} | {core - floor:.3f} |")
    lines.append(f"| hello | | {medians['floor hello']:.3f} | |")
    return "\n".join(lines) + f"\n\nmedians of {len(results)} rounds, CPU ms per request"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per route")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-request-cpu-"))
    print(report(asyncio.run(measure(args.rounds, args.requests, workdir))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""coder agent: leases tasks from hypercode-core and does them through its own MCP tool server.

Usage: HYPERCODE_URL=http://127.0.0.1:8000 HYPERCODE_REGISTRAR_KEY=... \\
       python -m agents.coder.main [--name NAME] [--concurrency N]

SIGTERM or SIGINT: stop leasing, finish the current task, report it, deregister, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from agents.coder.core_api import CoreApi, Refused
from agents.coder.telemetry import (
    AGENT_SERVICE_NAME,
    setup_tracing,
    shutdown_tracing,
    tracing_enabled,
)
from agents.coder.tool_client import ToolClient, tool_server_parameters
from agents.coder.worker import Worker, WorkerSettings

CAPABILITIES = ("python", "lint", "test")

logger = logging.getLogger("agents.coder")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="coder-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("HYPERCODE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--name", default=f"coder-{socket.gethostname()}-{os.getpid()}")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        choices=range(1, 65),
        metavar="N",
        help="tasks done at once, each slot registered as its own agent (1-64)",
    )
    parser.add_argument(
        "--lease-wait",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="long-poll wait per lease request",
    )
    return parser.parse_args(argv)


async def run_agent(args: argparse.Namespace, registrar_key: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tools_server = tool_server_parameters(python_spares=args.concurrency)
    async with (
        httpx.AsyncClient(base_url=args.url, timeout=30.0) as http,
        ToolClient(tools_server) as tools,
    ):
        api = CoreApi(http, registrar_key)
        workers = [
            Worker(
                api,
                tools,
                WorkerSettings(
                    name=args.name if args.concurrency == 1 else f"{args.name}-{slot}",
                    capabilities=CAPABILITIES,
                    lease_wait_s=args.lease_wait,
                ),
            )
            for slot in range(args.concurrency)
        ]
        async with asyncio.TaskGroup() as group:
            for worker in workers:
                group.create_task(worker.run(stop))


def _refusal_in(error: BaseException) -> Refused | None:
    """The core's refusal (e.g. a wrong registrar key) inside nested task-group errors."""
    if isinstance(error, BaseExceptionGroup):
        return next(filter(None, map(_refusal_in, error.exceptions)), None)
    return error if isinstance(error, Refused) else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s coder-agent %(levelname)s %(name)s: %(message)s",
    )
    # One line per request is noise next to the agent's own task log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    registrar_key = os.environ.get("HYPERCODE_REGISTRAR_KEY")
    if not registrar_key:
        logger.error("HYPERCODE_REGISTRAR_KEY is not set: the agent cannot register")
        return 2
    if tracing_enabled():
        setup_tracing(AGENT_SERVICE_NAME)
        HTTPXClientInstrumentor().instrument()
    try:
        asyncio.run(run_agent(args, registrar_key))
    except BaseExceptionGroup as failure:
        if (refusal := _refusal_in(failure)) is None:
            raise
        logger.error("the core refused this agent: %s", refusal)
        return 2
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())

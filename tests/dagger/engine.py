"""The Dagger engine session of the engine tests (tests/dagger, tests/pipeline), one per module.

Registered as a plugin in tests/conftest.py. Needs an engine: `make dagger-up` then
`source ~/.cache/swarm/dagger/env.sh` (docs/dagger-offline.md), or any Dagger install.
"""

from collections.abc import AsyncIterator

import dagger
import pytest


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # the Dagger SDK runs on asyncio


@pytest.fixture(scope="module")
async def engine() -> AsyncIterator[None]:
    async with dagger.connection():
        yield

"""Liveness and readiness probes, outside /api/v1 and without a key."""

import asyncio

from fastapi import APIRouter, HTTPException, status

from app.api.deps import ServicesDep
from app.api.errors import error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def readyz(services: ServicesDep) -> dict[str, str]:
    """The process can serve: its database answers within two seconds."""
    try:
        async with asyncio.timeout(2):
            await services.store.ping()
    except Exception as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"database unavailable: {type(exc).__name__}"
        ) from None
    return {"status": "ready", "database": services.store.dialect.name}

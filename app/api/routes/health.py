import asyncio

from fastapi import APIRouter, HTTPException, status

from app.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "the database does not answer"}})
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

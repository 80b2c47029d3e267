"""The versioned API: one router per resource under /api/v1."""

from fastapi import APIRouter

from app.api.errors import API_ERRORS, error_responses
from app.api.routes import agents, execution

api_router = APIRouter(prefix="/api/v1", responses=error_responses(*API_ERRORS))
api_router.include_router(execution.router)
api_router.include_router(agents.router)

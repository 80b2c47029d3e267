from fastapi import APIRouter

from app.api.routes import agents, execution

api_router = APIRouter(prefix="/api/v1")
api_router.include_router(execution.router)
api_router.include_router(agents.router)

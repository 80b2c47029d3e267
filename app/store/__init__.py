"""Durable storage of tasks and agents: SQLite (embedded default) or PostgreSQL."""

from app.store.base import IdempotencyConflict, Store, TaskNotFinalizable
from app.store.factory import open_store

__all__ = ["IdempotencyConflict", "Store", "TaskNotFinalizable", "open_store"]

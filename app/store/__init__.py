"""Durable storage of tasks and agents: SQLite (embedded default) or PostgreSQL."""

from app.store.base import (
    IdempotencyConflict,
    QueueCap,
    QueueFull,
    Store,
    TaskNotFinalizable,
    queue_caps,
)
from app.store.factory import open_store

__all__ = [
    "IdempotencyConflict",
    "QueueCap",
    "QueueFull",
    "Store",
    "TaskNotFinalizable",
    "open_store",
    "queue_caps",
]

"""Pick the store from the database URL."""

from pathlib import Path

from app.store.base import Store


async def open_store(database_url: str) -> Store:
    """Open the store and bring its schema up to date."""
    store: Store
    if database_url.startswith("sqlite:///"):
        from app.store.sqlite import SqliteStore

        store = SqliteStore(Path(database_url.removeprefix("sqlite:///")))
    else:
        from app.store.postgres import PostgresStore

        store = pg = PostgresStore(database_url)
        await pg.open()
    await store.migrate()
    return store

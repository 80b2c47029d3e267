"""The framework ceiling: a bare FastAPI app with one endpoint, served like the core."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}

"""Request bodies are parsed strictly (app/core/json_values.py), so nothing the store or a
response cannot hold gets in: each problem is a 422 that says what is wrong, on every route
with a body.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute

from app.core.json_values import InvalidJson, parse_strict


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = parse_strict(await self.body())
            except InvalidJson as error:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body goes through parse_strict."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict

"""JSON values the store and the API can always hold: finite numbers, valid Unicode, nesting
of at most MAX_JSON_DEPTH levels.

Python's json module accepts NaN and Infinity (and reads 1e999 as infinity), lone UTF-16
surrogates ("\\ud800") and any nesting its recursion allows; PostgreSQL, SQLite and JSON
responses accept none of them. `parse_strict` refuses each when a body comes in;
`check_value` says whether a value read back can be shown.
"""

import json
import math
import re
from typing import Any

from contract.tasks import MAX_JSON_DEPTH

_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number: only finite numbers are accepted")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise InvalidJson(f"{text} is out of range: only finite numbers are accepted")
    return value


def check_value(value: Any, depth: int = 1) -> None:
    """Depth and Unicode of every nested value: InvalidJson for the first that fails."""
    if depth > MAX_JSON_DEPTH:
        raise InvalidJson(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_value(item, depth + 1)
    else:
        _check_text(value)


def _check_text(value: object) -> None:
    if isinstance(value, str) and _SURROGATE.search(value):
        raise InvalidJson("a string holds a lone UTF-16 surrogate: not valid Unicode")


def parse_strict(body: bytes) -> Any:
    """The JSON value of a request body, or InvalidJson saying why it is refused."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJson(f"the body is not UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise InvalidJson(f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    check_value(value)
    return value

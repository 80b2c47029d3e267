"""Dagger's module decorators, re-exported with signatures mypy can follow.

Why: dagger-io types `function` and `object_type` as overloaded methods of a module
instance; mypy (unlike pyright) cannot solve those, so every call of a stage from another
stage came back untyped and object types lost their constructor. At run time these are the
SDK's own decorators, unchanged.
"""

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from dagger import field

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    FuncT = TypeVar("FuncT", bound=Callable[..., Any])
    ClassT = TypeVar("ClassT", bound=type)

    def function(func: FuncT, /) -> FuncT: ...

    @dataclass_transform(kw_only_default=True, field_specifiers=(field, dataclasses.field))
    def object_type(cls: ClassT, /) -> ClassT: ...

else:
    from dagger import function, object_type

__all__ = ["field", "function", "object_type"]

"""Task kinds, payloads and the limits a task must keep: the core accepts exactly these, and
the agent's tool server and sandbox can run every task that passes them."""

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_FILES = 100
# Characters of one source file, program or stdin.
MAX_SOURCE_CHARS = 1 << 20
# Under memfd_create's 249-byte name limit and NAME_MAX, which the sandbox's files go through.
MAX_PATH_CHARS = 200
MIN_TIMEOUT_S = 0.1
MAX_TIMEOUT_S = 300.0
MAX_ERROR_CHARS = 4096
# Nesting of any JSON body (a result report's `result` included): deep enough for real tool
# results, shallow enough that every stored value can be read back and serialised.
MAX_JSON_DEPTH = 32


class TaskKind(StrEnum):
    python = "python"  # run a program: payload PythonPayload, tool run_python
    lint = "lint"  # ruff on files: payload FilesPayload, tool lint
    test = "test"  # pytest on files: payload FilesPayload, tool run_tests


class TaskStatus(StrEnum):
    queued = "queued"
    leased = "leased"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


# One path part: ASCII letters, digits, `_`, `.`, `-`, not starting with `.` or `-` (so no
# `.`/`..`, no hidden files, nothing a tool could read as an option).
_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


def check_relative_path(path: str) -> str:
    """Accept only plain relative paths, so a task cannot place files outside its job dir."""
    if len(path) > MAX_PATH_CHARS or not _PATH.fullmatch(path):
        raise ValueError(
            f"not a safe relative path: {path!r} (parts of ASCII letters, digits, '_', '.', "
            f"'-', each starting with a letter, digit or '_', joined by '/', at most "
            f"{MAX_PATH_CHARS} characters)"
        )
    return path


FilePath = Annotated[str, AfterValidator(check_relative_path)]
SourceText = Annotated[str, Field(max_length=MAX_SOURCE_CHARS)]
TimeoutSeconds = Annotated[float, Field(ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)]
# What an agent offers and a task needs; a task needs its kind unless it says otherwise.
Capability = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.:-]+$")]


def check_no_file_is_a_folder(files: dict[str, str]) -> dict[str, str]:
    """`a` and `a/b.py` cannot both be placed: one path would be a file and a folder."""
    folders = {
        path.rsplit("/", depth)[0] for path in files for depth in range(1, path.count("/") + 1)
    }
    if clash := sorted(folders & files.keys()):
        raise ValueError(f"{clash[0]!r} is both a file and the folder of another file")
    return files


SourceFiles = Annotated[
    dict[FilePath, SourceText],
    Field(min_length=1, max_length=MAX_FILES),
    AfterValidator(check_no_file_is_a_folder),
]


class PythonPayload(BaseModel):
    """Payload of a `python` task: the program and what it reads on stdin."""

    model_config = ConfigDict(extra="forbid")
    code: SourceText = Field(min_length=1)
    stdin: SourceText = ""


class FilesPayload(BaseModel):
    """Payload of a `lint` or `test` task: file path → content, placed in the job dir."""

    model_config = ConfigDict(extra="forbid")
    files: SourceFiles


# The payload each kind takes.
PAYLOAD_FOR_KIND: dict[TaskKind, type[PythonPayload | FilesPayload]] = {
    TaskKind.python: PythonPayload,
    TaskKind.lint: FilesPayload,
    TaskKind.test: FilesPayload,
}

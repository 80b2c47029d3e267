# The engine's builtin Python SDK: not a runnable image but a file tree (SDK sources, its
# runtime module, dist/uv, dist/uvx, dist/codegen) that the engine reads as a directory.
FROM scratch
COPY rootfs/ /

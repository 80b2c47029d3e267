#!/bin/sh
set -e
# Each client gets its own SQLite databases: 1024 open files is far too few.
ulimit -n 1048576 || echo "cannot raise the open-files limit, going on"
exec dagger-engine "$@"

#!/usr/bin/env bash
# Runs "$@" (make test: the lint) while the JVM class archive (lakehouse/jvm.py) is built in the background, then waits
# for the archive, so that the tests' JVMs start with it. Its exit status is the command's; a failed build only warns,
# as in scripts/setup.sh (runs work without the archive). The build takes about 50 s in a fresh clone and the lint about
# 13 s, mostly on one core each: setup and lint 79 s -> 68-69 s of a fresh clone's `make test` (2 cores, 2026-12-07).
set -uo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
log=$(mktemp)
.venv/bin/python -m lakehouse.jvm > "$log" 2>&1 &
build=$!
"$@"
status=$?
if wait "$build"; then
  say "JVM class archive ready: $(tail -1 "$log")"
else
  say "warning: no JVM class archive ($(tail -5 "$log")); runs start their JVMs without it"
fi
rm -f "$log"
exit "$status"

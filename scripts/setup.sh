#!/usr/bin/env bash
# Sets up everything the lakehouse needs, idempotently: Java check, Chromium for the browser tests, .venv with the pinned
# dependencies (requirements.lock), the Delta JARs in .cache/jars, a sample landing zone in
# data/landing (only if there is none; its days end yesterday), DAGSTER_HOME in data/dagster_home and
# a local development key for customer tokens in data/pii_dev.key (only if there is none).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

# --- Python 3.11/3.12 ---------------------------------------------------------------
PYTHON=""
for candidate in ${PYTHON_BIN:-} python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
    PYTHON=$(command -v "$candidate"); break
  fi
done
[ -n "$PYTHON" ] || die "Python 3.11 or 3.12 is required (set PYTHON_BIN=/path/to/python3.11)."

# --- Java 17+ (Spark 4 runs on the JVM; the crash tests compile a Delta log store with javac) ---
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing a Java 17 JDK with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
  else
    die "A Java 17+ JDK is required (Spark 4 runs on it; the tests compile with javac): install one (e.g. 'apt-get install openjdk-17-jdk-headless' or 'brew install openjdk@17') and put 'java' and 'javac' on PATH."
  fi
fi

# --- Chromium (the browser tests drive it with Playwright; `playwright install` cannot download browsers here) ---
# Debian's package, only as root with apt-get like Java above; without it the browser tests are skipped (under CI, fail).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Chromium with apt-get (for the browser tests, lakehouse_tests/test_e2e/test_browser.py)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    say "no Chromium found: the browser tests (lakehouse_tests/test_e2e/test_browser.py) will be skipped; to run them install Debian's 'chromium' (e.g. 'sudo apt-get install chromium') so that 'chromium' is on PATH"
  fi
fi

# --- virtualenv with pinned dependencies ---------------------------------------------
# The venv's layout version goes into the hash too: a new one (2: bytecode compiled at install) re-installs.
lock_hash=$( (echo "venv layout 2"; cat requirements.lock pyproject.toml) | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
if [ "$(cat .venv/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  say "installing pinned dependencies (requirements.lock)"
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==0.13.9"
  # Bytecode compiled now (uv does not by default): where PYTHONDONTWRITEBYTECODE is set (as on this machine), every
  # Python process would otherwise compile dagster, pandas and pyspark from source at each start, a third of a
  # `dagster asset materialize` process's CPU (py-spy, 2026-12-07). About 7 s, once.
  .venv/bin/uv pip sync -q --compile-bytecode --python .venv/bin/python requirements.lock
  .venv/bin/uv pip install -q --python .venv/bin/python --no-deps -e .
  echo "$lock_hash" > .venv/.lock-hash
fi

# The project's own modules too (only those changed since are compiled again).
.venv/bin/python -m compileall -q -j 0 lakehouse lakehouse_tests benchmarks >/dev/null

# --- Delta JARs (resolved now so no run waits on a download) -------------------------
.venv/bin/python -m lakehouse.jars --cache-dir .cache/jars >/dev/null
say "Delta JARs ready in .cache/jars"

# --- JVM class archive (lakehouse/jvm.py): Spark's and Delta's classes pre-parsed, so each cold JVM starts faster.
# Built once per Java, pyspark and Delta version (about a minute); runs work without it, so a failure only warns.
# LAKEHOUSE_SETUP_ARCHIVE=later leaves it to the caller: `make test` builds it while the lint runs
# (scripts/build_archive_while.sh).
if [ "${LAKEHOUSE_SETUP_ARCHIVE:-now}" != later ]; then
  if ! archive=$(.venv/bin/python -m lakehouse.jvm 2>&1); then
    say "warning: no JVM class archive ($archive); runs start their JVMs without it"
  else
    say "JVM class archive ready: $archive"
  fi
fi

# --- sample landing zone and Dagster home --------------------------------------------
if [ ! -d data/landing/sales ]; then
  say "generating a sample landing zone in data/landing (7 days ending yesterday, UTC)"
  .venv/bin/lakehouse-generate --out data/landing --sample --quiet
fi
# A new home gets config/dagster.yaml, and automation shown as on (see lakehouse/home.py).
[ -f data/dagster_home/dagster.yaml ] || .venv/bin/python -m lakehouse.home data/dagster_home

# --- development key for customer tokens (git-ignored; make dev exports it when LAKEHOUSE_PII_KEY is unset) ---
if [ ! -f data/pii_dev.key ]; then
  (umask 077 && .venv/bin/python -c 'import secrets, sys; sys.stdout.write(secrets.token_hex(32))' > data/pii_dev.key)
  chmod 600 data/pii_dev.key
  say "created a local development key for customer tokens in data/pii_dev.key (make dev uses it when LAKEHOUSE_PII_KEY is unset); production must set LAKEHOUSE_PII_KEY"
fi
say "ready"

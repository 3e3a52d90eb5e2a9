"""Which customer-token key a local process uses when ``LAKEHOUSE_PII_KEY`` is not set: never a default in code.

``make setup`` writes a random key to ``data/pii_dev.key`` (git-ignored, mode 600) once; ``make
dev`` exports it to the Dagster processes when the variable is unset (:func:`use_dev_key`); the
``lakehouse-checks`` command gives its temporary lakehouse a throwaway key (:func:`throwaway_key`).
Production sets the variable (a secret scope, the job's environment) and none of this applies.
The functions say which key they use, never the key itself.

Example::

    print(use_dev_key())            # 'LAKEHOUSE_PII_KEY unset: using the local development key data/pii_dev.key'
    with throwaway_key() as note:   # a random key for the block when the variable is unset
        print(note)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

from lakehouse.governance.tokens import KEY_VARIABLE
from lakehouse.settings import PROJECT_ROOT

DEV_KEY_FILE = PROJECT_ROOT / "data" / "pii_dev.key"


def use_dev_key(env: MutableMapping[str, str] | None = None, path: Path = DEV_KEY_FILE) -> str:
    """Set ``LAKEHOUSE_PII_KEY`` in ``env`` (default ``os.environ``) from ``path`` when it is unset; say which key is used."""
    env = os.environ if env is None else env
    shown = _shown(path)
    if env.get(KEY_VARIABLE, "").strip():
        return f"{KEY_VARIABLE} is set: customer tokens use it (not {shown})"
    key = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if not key:
        return (f"{KEY_VARIABLE} is unset and there is no {shown}: gold/customers_masked will fail until one is set "
                "(make setup creates the development key)")
    env[KEY_VARIABLE] = key
    return f"{KEY_VARIABLE} unset: using the local development key {shown} (production must set {KEY_VARIABLE})"


@contextmanager
def throwaway_key(env: MutableMapping[str, str] | None = None) -> Iterator[str]:
    """A random ``LAKEHOUSE_PII_KEY`` in ``env`` for the block when it is unset (put back after); yields what was done."""
    env = os.environ if env is None else env
    if env.get(KEY_VARIABLE, "").strip():
        yield f"{KEY_VARIABLE} is set: customer tokens use it"
        return
    previous = env.get(KEY_VARIABLE)
    env[KEY_VARIABLE] = secrets.token_hex(32)
    try:
        yield f"{KEY_VARIABLE} unset: using a throwaway key for this temporary lakehouse (its customer tokens are not the real ones)"
    finally:
        if previous is None:
            env.pop(KEY_VARIABLE, None)
        else:
            env[KEY_VARIABLE] = previous


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)

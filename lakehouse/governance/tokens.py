"""Customer tokens: HMAC-SHA256 of a customer id under the secret key ``LAKEHOUSE_PII_KEY``.

A token is stable (the same id always gives the same token under one key), so analysts join and
count distinct customers on it, and it cannot be turned back into the id without the key. The
erasure suppression list stores tokens, never ids.

The key is read from the environment when a step asks for it, never from Dagster config: it
does not appear in the launchpad, in run storage or in a Spark plan. A step that needs it and
finds none fails naming the variable; steps that do not need it run without one.

Example::

    key = PiiKey().secret()                       # bytes of LAKEHOUSE_PII_KEY, or dg.Failure
    customer_token(key, 42)                       # '3f1c…' (64 lowercase hex digits)
    frame.withColumn("customer_token", token_column(key, "customer_id"))
"""

from __future__ import annotations

import hashlib
import hmac
import os

import dagster as dg
from pydantic import Field
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

KEY_VARIABLE = "LAKEHOUSE_PII_KEY"


class PiiKey(dg.ConfigurableResource):
    """Where the secret key for customer tokens comes from (an environment variable, read at run time)."""

    env_var: str = Field(default=KEY_VARIABLE, description="Environment variable holding the UTF-8 secret key.")

    def configured(self) -> bool:
        """Whether the key is set (non-empty)."""
        return bool(os.environ.get(self.env_var, "").strip())

    def secret(self, needed_for: str = "this step") -> bytes:
        """The key as bytes; a dg.Failure naming the variable and how to set it when it is missing."""
        value = os.environ.get(self.env_var, "")
        if not value.strip():
            raise dg.Failure(description=(
                f"{self.env_var} is not set, and {needed_for} needs it to compute customer tokens (HMAC-SHA256). "
                f"Set {self.env_var} to the lakehouse's secret key (on a cluster: a secret scope or the job's "
                "environment). For local development `make setup` writes one to data/pii_dev.key and `make dev` "
                f"uses it: export {self.env_var}=\"$(cat data/pii_dev.key)\". Nothing was written."
            ), allow_retries=False)
        return value.encode("utf-8")


def customer_token(key: bytes, customer_id: int) -> str:
    """HMAC-SHA256 (lowercase hex) of the decimal text of ``customer_id`` under ``key`` (the contract's token)."""
    return hmac.new(key, str(int(customer_id)).encode("ascii"), hashlib.sha256).hexdigest()


def token_column(key: bytes, column: str | Column) -> Column:
    """A Spark column of :func:`customer_token` of an integer column (null stays null).

    A Python UDF, so that the key travels inside the pickled function to the executors and is
    never written into SQL text, a plan string or the Delta log.
    """

    def token(value: int | None) -> str | None:
        return None if value is None else hmac.new(key, str(int(value)).encode("ascii"), hashlib.sha256).hexdigest()

    return F.udf(token, T.StringType())(F.col(column) if isinstance(column, str) else column)

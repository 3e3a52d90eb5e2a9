"""Masking of personal data for analysts (CONTRACT.md, *Personal data*): Spark SQL expressions, written once.

Each mask is a Spark SQL expression (so a SQL view on a cluster can use the same text) and a
Python reference implementation of the same rule, which the tests compare it with.

* **email**: the first two characters, ``***``, then everything from the **last** ``@``
  (``sarah@email.com`` → ``sa***@email.com``). The last ``@``, because an address's domain
  follows it (a quoted local part may hold another ``@``), and so the masked value is never an
  address itself: the ``@`` it keeps is preceded by ``*``, which is why the ``pii_leak`` check
  passes on masked columns. No ``@`` at all: the first two characters and ``***`` (``ab***``); an
  empty text gives ``***``; null stays null.
* **phone**: every ASCII digit except the last 4 replaced by ``*``, every other character kept
  (``+33 6 12 34 56 78`` → ``+** * ** ** 56 78``); 4 digits or fewer are kept as they are; null
  stays null.

Characters are Unicode code points in both implementations (Spark's ``substring``, Python's
slicing).

Example::

    frame.select(mask_email("email").alias("email_masked"), mask_phone("phone").alias("phone_masked"))
    masked_email("sarah@email.com")    # 'sa***@email.com', the reference implementation
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# A digit that has at least 4 more digits after it (anything in between): all but the last 4.
_NOT_LAST_FOUR_DIGITS = "[0-9](?=(?:[^0-9]*[0-9]){4})"

EMAIL_MASK_SQL = (
    "CASE WHEN {c} IS NULL THEN NULL"
    " WHEN instr({c}, '@') = 0 THEN concat(substring({c}, 1, 2), '***')"
    " ELSE concat(substring({c}, 1, 2), '***@', substring_index({c}, '@', -1)) END"
)
PHONE_MASK_SQL = "regexp_replace({c}, '" + _NOT_LAST_FOUR_DIGITS + "', '*')"


def email_mask_sql(column: str) -> str:
    """The Spark SQL expression masking the email column ``column``.

    Example::

        spark.sql(f"SELECT {email_mask_sql('email')} AS email_masked FROM silver_dim_customer")
    """
    return EMAIL_MASK_SQL.replace("{c}", _quoted(column))


def phone_mask_sql(column: str) -> str:
    """The Spark SQL expression masking the phone column ``column``."""
    return PHONE_MASK_SQL.replace("{c}", _quoted(column))  # not format(): the regex has {4}


def mask_email(column: str) -> Column:
    """:func:`email_mask_sql` as a DataFrame column (null stays null)."""
    return F.expr(email_mask_sql(column))


def mask_phone(column: str) -> Column:
    """:func:`phone_mask_sql` as a DataFrame column (null stays null)."""
    return F.expr(phone_mask_sql(column))


def masked_email(email: str | None) -> str | None:
    """The reference implementation of the email mask, in plain Python (tests compare Spark's result with it)."""
    if email is None:
        return None
    if "@" not in email:
        return email[:2] + "***"
    return email[:2] + "***@" + email.rsplit("@", 1)[1]


def masked_phone(phone: str | None) -> str | None:
    """The reference implementation of the phone mask, in plain Python."""
    if phone is None:
        return None
    digits = sum(ch in "0123456789" for ch in phone)
    hidden, out = digits - 4, []
    for ch in phone:
        if ch in "0123456789" and hidden > 0:
            out.append("*")
            hidden -= 1
        else:
            out.append(ch)
    return "".join(out)


def _quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"

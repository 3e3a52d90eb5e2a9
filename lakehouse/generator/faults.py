"""Fault rates of the generated sales feed, and the broken values each fault writes.

Every generated sales record carries at most one record fault, drawn with these default
rates (see :class:`FaultRates`); the last word says where the sale ends up downstream:

- ``malformed`` 1 %: truncated JSON, a JSON array of scalars, garbage text or a bare number
  (not a JSON object) -> ``bronze/sales_rejects``;
- ``wrong_type`` 1 %: one field holds a value no reader can take for its type, e.g.
  ``"customer_id": "abc"``, ``"quantity": "three"``, ``"amount": "12,50"``, ``"discount": "10%"``,
  ``"store_id": true`` (never digit strings such as ``"123"``) -> ``silver/sales_quarantine``;
- ``missing_field`` 1 %: ``customer_id``, ``product_id`` or ``store_id`` absent -> quarantine;
- ``invalid_value`` 1 %: ``quantity`` <= 0, ``amount`` <= 0, ``discount`` outside [0, 1) or
  ``customer_id`` null -> quarantine;
- ``wrong_day`` 0.5 %: ``sale_ts`` of another UTC day (sometimes only its local date is the
  folder's day) or unparseable (``"yesterday"``) -> quarantine;
- ``extra_field`` 1 %: an unknown field such as ``"coupon_code": "XMAS"`` -> ``silver/sales``
  (the field only goes to ``_rescued_data``).

Independently of the record fault, a parseable line is re-sent byte for byte later in the
same day (``duplicate``, 1.0 %), and a blank or whitespace-only line precedes a record
(``blank_line``, 0.5 %). An absent ``discount`` is never a fault: it means 0.

The other feeds have their own rates: a CDC event is delivered twice (``cdc_duplicate``, 2 %);
a click event is written as a malformed line (``click_malformed``, 0.5 %), re-delivered
(``click_duplicate``, 1 %) or lands late, hours after its ``event_ts`` (``click_late``, 2 %).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, fields

#: Record fault kinds, in the order their rates are stacked on one uniform draw.
RECORD_FAULTS: tuple[str, ...] = (
    "malformed",
    "wrong_type",
    "missing_field",
    "invalid_value",
    "wrong_day",
    "extra_field",
)
#: Record faults after which the sale fails a drop-level expectation of ``silver/sales``.
INVALID_FAULTS: frozenset[str] = frozenset({"wrong_type", "missing_field", "invalid_value", "wrong_day"})
#: Every counted kind: the record faults plus re-sent copies and blank lines.
ALL_FAULT_KINDS: tuple[str, ...] = (*RECORD_FAULTS, "duplicate", "blank_line")


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per generated record (0 <= rate <= 1).

    The sales record-fault rates (``RECORD_FAULTS``) must add up to at most 1; ``cdc_*`` and
    ``click_*`` rates apply to the CDC and clickstream feeds.

    Example::

        rates = FaultRates(malformed=0.05, duplicate=0.0)
        quiet = FaultRates.none()
    """

    malformed: float = 0.01
    wrong_type: float = 0.01
    missing_field: float = 0.01
    invalid_value: float = 0.01
    wrong_day: float = 0.005
    extra_field: float = 0.01
    duplicate: float = 0.01
    blank_line: float = 0.005
    cdc_duplicate: float = 0.02
    click_malformed: float = 0.005
    click_duplicate: float = 0.01
    click_late: float = 0.02

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {f.name}={value} is not within [0, 1]")
        if sum(getattr(self, kind) for kind in RECORD_FAULTS) > 1.0:
            raise ValueError("the record fault rates add up to more than 1")

    @classmethod
    def none(cls) -> FaultRates:
        """All rates 0: a clean feed."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def thresholds(self) -> list[tuple[float, str]]:
        """Cumulative upper bounds of the record faults, for one ``random()`` draw."""
        bounds, total = [], 0.0
        for kind in RECORD_FAULTS:
            rate = getattr(self, kind)
            if rate > 0:
                total += rate
                bounds.append((total, kind))
        return bounds


def pick_fault(thresholds: list[tuple[float, str]], u: float) -> str | None:
    """The record fault whose slice of [0, 1) holds ``u``, or None for a clean record."""
    for bound, kind in thresholds:
        if u < bound:
            return kind
    return None


_GARBAGE = (
    "<html><body>503 Service Unavailable</body></html>",
    "#@!corrupted record!@#",
    "ERROR: connection reset by peer",
    "sale_id;customer_id;product_id",
    "\ufffd\ufffd\ufffd binary junk \ufffd",
)
_BLANKS = ("", " ", "   ", "\t", " \t ")


def malformed_line(rng: random.Random, good_line: str) -> str:
    """A line that cannot be read as a JSON object, derived from a would-be good line."""
    choice = rng.randrange(4)
    if choice == 0:  # truncated mid-record: always starts with "{" and never closes
        return good_line[: rng.randint(1, len(good_line) - 2)].rstrip()
    if choice == 1:  # a JSON array of scalars, never of objects
        return json.dumps(["sale", rng.randint(1, 99_999), rng.randint(1, 5), round(rng.uniform(1, 99), 2)])
    if choice == 2:
        return rng.choice(_GARBAGE)
    return str(rng.randint(0, 99999))


def blank_line(rng: random.Random) -> str:
    """An empty or whitespace-only line (spaces and tabs only)."""
    return rng.choice(_BLANKS)


# Values that no reader can take for the field's type; never digit strings like "123" and
# never floats for integer fields, which some readers would silently convert.
_WRONG_TYPES: dict[str, tuple[str, ...]] = {
    "customer_id": ('"abc"', '"CUST-%d"', '{"id": %d}'),
    "product_id": ('"P-%04d"', '[%d]', '"unknown"'),
    "store_id": ("true", "false", '"store #%d"'),
    "quantity": ('"three"', '"%d units"', "[%d]"),
    "amount": ('"12,50"', '"EUR %d.99"', '"free"'),
    "discount": ('"10%%"', '"none"', '"%d percent"'),
}


def wrong_type_value(rng: random.Random) -> tuple[str, str]:
    """``(field, json_text)``: a value of the wrong JSON type for one sales field."""
    field = rng.choice(tuple(_WRONG_TYPES))
    template = rng.choice(_WRONG_TYPES[field])
    return field, (template % rng.randint(1, 99)) if "%d" in template else template.replace("%%", "%")


def invalid_value(rng: random.Random, amount: str) -> tuple[str, str]:
    """``(field, json_text)``: a well-typed value that breaks a range rule of ``silver/sales``."""
    choice = rng.randrange(4)
    if choice == 0:
        return "quantity", rng.choice(("0", "-1", "-3"))
    if choice == 1:
        return "amount", rng.choice(("0.00", "-" + amount))
    if choice == 2:
        return "discount", rng.choice(("1.0", "1.5", "-0.1", "10"))
    return "customer_id", "null"


_EXTRA_FIELDS = (
    ("coupon_code", ('"XMAS"', '"SUMMER10"', '"WELCOME"')),
    ("channel", ('"web"', '"app"', '"kiosk"')),
    ("loyalty_tier", ('"gold"', '"silver"')),
    ("cashier_id", ("17", "42", "305")),
    ("receipt_printed", ("true", "false")),
)


def extra_field(rng: random.Random) -> tuple[str, str]:
    """``(field, json_text)``: an unknown field (never a case variant of a real column)."""
    name, values = rng.choice(_EXTRA_FIELDS)
    return name, rng.choice(values)


_UNPARSEABLE_TS = ("yesterday", "N/A", "TBD", "2025-13-45T99:99:99Z", "31/31/2025 25:61")


def unparseable_ts(rng: random.Random) -> str:
    """A ``sale_ts`` string no ISO-8601 parser accepts."""
    return rng.choice(_UNPARSEABLE_TS)

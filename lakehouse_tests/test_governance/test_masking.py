"""The masks (Spark SQL) equal their Python reference, follow the contract, and never look like personal data themselves."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import types as T

from lakehouse.governance.leaks import EMAIL_PATTERN, PATTERNS, PHONE_PATTERN, REQUIRED, leak_counts, leak_counts_of
from lakehouse.governance.masking import mask_email, mask_phone, masked_email, masked_phone

# Text Spark can hold (no lone surrogates), biased towards what the masks look at: @, digits, separators.
TEXT = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.text(alphabet="ab.@+-( )0123456789é", max_size=30),
)
EMAILS = st.builds(lambda local, domain: f"{local}@{domain}",
                   st.from_regex(r"[A-Za-z0-9._%+-]{1,12}", fullmatch=True), st.from_regex(r"[a-z0-9-]{1,10}\.[a-z]{2,4}", fullmatch=True))
PHONES = st.from_regex(r"\+[0-9]{1,3}( ?[0-9]{2,4}){2,5}", fullmatch=True)


@pytest.mark.parametrize(("email", "masked"), [
    ("sarah@email.com", "sa***@email.com"),
    ("a@x.org", "a@***@x.org"),       # a one-character local part: the first two characters include the @
    ('"a@b"@example.com', '"a***@example.com'),  # the domain follows the last @
    ("no-at-sign", "no***"),
    ("", "***"),
    (None, None),
])
def test_email_mask_examples(email, masked):
    assert masked_email(email) == masked


@pytest.mark.parametrize(("phone", "masked"), [
    ("+33 6 12 34 56 78", "+** * ** ** 56 78"),
    ("(555) 123-4567", "(***) ***-4567"),
    ("1234", "1234"),
    ("12", "12"),
    ("", ""),
    (None, None),
])
def test_phone_mask_examples(phone, masked):
    assert masked_phone(phone) == masked


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(st.none(), TEXT, EMAILS, PHONES), min_size=1, max_size=40))
def test_spark_masks_equal_the_python_reference(spark, values):
    frame = spark.createDataFrame([(v,) for v in values], T.StructType([T.StructField("v", T.StringType())]))
    rows = frame.select("v", mask_email("v").alias("email"), mask_phone("v").alias("phone")).collect()
    assert [(r["email"], r["phone"]) for r in rows] == [(masked_email(v), masked_phone(v)) for v in values]


@given(value=st.one_of(TEXT, EMAILS, PHONES))
def test_a_masked_email_never_looks_like_an_email_nor_a_masked_phone_like_a_phone(value):
    assert not re.search(EMAIL_PATTERN, masked_email(value) or ""), masked_email(value)
    assert not re.search(PHONE_PATTERN, masked_phone(value) or ""), masked_phone(value)


@given(phone=TEXT)
def test_the_phone_mask_keeps_every_other_character_and_at_most_four_digits(phone):
    masked = masked_phone(phone) or ""
    assert len(masked) == len(phone)
    assert all(m == p or (m == "*" and p in "0123456789") for m, p in zip(masked, phone, strict=True))
    assert sum(ch in "0123456789" for ch in masked) == min(4, sum(ch in "0123456789" for ch in phone))


@given(value=st.one_of(TEXT, EMAILS, PHONES, st.builds("".join, st.lists(st.one_of(TEXT, EMAILS, PHONES), max_size=4))))
def test_every_match_of_a_leak_pattern_holds_the_character_the_scan_tests_first(value):
    # leaks.matches runs a pattern only on values holding REQUIRED[kind]: it may skip no value the pattern matches.
    for kind, pattern in PATTERNS.items():
        for match in re.finditer(pattern, value):
            assert REQUIRED[kind] in match.group(), (kind, value)


def test_leak_patterns_find_emails_and_phones_but_no_timestamps_ids_amounts_or_masks(spark):
    found = ["someone@example.com", '{"email":"a.b+c@mail.example"}', "+33 6 12 34 56 78", '{"phone": "+1 (555) 123-4567"}',
             "+4915112345678"]
    clean = ["2025-01-03T10:00:00+01:00", "2025-01-03T10:00:00.123+05:30", "SALE-000000123", "12345678901234", "+1234567",
             "19.99", "+12345678901234567", "file:/tmp/landing/sales/2025-01-03/part-0000.json", '{"quantity": "two"}',
             masked_email("someone@example.com"), masked_phone("+33 6 12 34 56 78"), masked_email("a@x.org"), None]
    frame = spark.createDataFrame([(v, i < len(found)) for i, v in enumerate(found + clean)], "v string, leak boolean")
    leaks = leak_counts(frame, ["v"], by="leak")
    assert leaks == {"true": {("v", "email"): 2, ("v", "phone"): 3}}, leaks


def test_leak_counts_of_several_frames_in_one_query_equal_each_frame_counted_alone(spark):
    sales = spark.createDataFrame([("2025-01-01", "a@b.example"), ("2025-01-02", "+33 6 12 34 56 78"), ("2025-01-02", "x")],
                                  "day string, v string")
    stores = spark.createDataFrame([("s@shop.example", "+4915112345678"), ("SALE-000000123", None)], "a string, b string")
    clean = spark.createDataFrame([("2025-01-03T10:00:00+01:00",)], "v string")
    scans = {"sales": (sales, ["v"], "day"), "stores": (stores, ["a", "b"], None), "clean": (clean, ["v"], None),
             "no columns": (clean, [], None)}
    together = leak_counts_of(scans)
    assert together == {name: alone for name, (frame, columns, by) in scans.items()
                        if (alone := leak_counts(frame, columns, by=by))}
    assert together == {"sales": {"2025-01-01": {("v", "email"): 1}, "2025-01-02": {("v", "phone"): 1}},
                        "stores": {"": {("a", "email"): 1, ("b", "phone"): 1}}}

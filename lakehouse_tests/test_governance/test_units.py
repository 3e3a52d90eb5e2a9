"""The pure parts of the erasure, without Spark: reading request lines, spotting an id in log text, trace tokens."""

from datetime import UTC, datetime

import pytest

from lakehouse.governance.evidence import Trace, scan_log_text
from lakehouse.governance.requests import Rejected, Request, manual_requests, parse_line
from lakehouse.governance.suppression import matcher, trace_token
from lakehouse.governance.tokens import customer_token


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "not a JSON object"),
    ("[1, 2]", "not a JSON object"),
    ('{"customer_id": 1, "requested_at": "2025-01-01"}', "missing request_id (a non-empty string)"),
    ('{"request_id": "R", "requested_at": "2025-01-01"}', "missing customer_id"),
    ('{"request_id": "R", "customer_id": "12", "requested_at": "2025-01-01"}', "customer_id is not an integer"),
    ('{"request_id": "R", "customer_id": true, "requested_at": "2025-01-01"}', "customer_id is not an integer"),
    ('{"request_id": "R", "customer_id": 12, "requested_at": "soon"}', "requested_at is missing or not an ISO-8601 time"),
])
def test_a_bad_line_is_rejected_with_its_reason(line, reason):
    parsed = parse_line(line, "f.json", 3)
    assert isinstance(parsed, Rejected) and parsed.reason == reason and (parsed.file, parsed.line) == ("f.json", 3)


def test_a_good_line_is_a_request_in_utc():
    parsed = parse_line('{"request_id": " R-1 ", "customer_id": 12, "requested_at": "2025-01-06T09:00:00+01:00"}', "f.json", 1)
    assert isinstance(parsed, Request) and parsed == Request("R-1", 12, datetime(2025, 1, 6, 8, tzinfo=UTC), "f.json", 1)
    assert parsed.source == "erasure_requests/f.json:1"
    assert [r.request_id for r in manual_requests([5, 6], "T", datetime.now(UTC))] == ["T#1", "T#2"]


def test_an_id_in_log_text_is_found_as_a_statistic_or_a_predicate_literal_but_not_in_null_counts():
    trace = Trace("R", 42, frozenset({"x@y.com"}))
    stats = '{"add":{"stats":"{\\"numRecords\\":2,\\"minValues\\":{\\"customer_id\\":42}}"}}'
    assert ("R", "customer_id as a statistics or partition value") in scan_log_text(stats, [trace])
    predicate = '{"commitInfo":{"operationParameters":{"predicate":"[\\"(customer_id#12 BETWEEN 40 AND 42)\\"]"}}}'
    assert scan_log_text(predicate, [trace]) == [("R", "customer_id as a predicate literal")]
    quiet = ('{"add":{"stats":"{\\"nullCount\\":{\\"customer_id\\":42}}"}}\n'
             '{"commitInfo":{"operationParameters":{"predicate":"[\\"(customer_id#42 = s.customer_id#7)\\"]"},"readVersion":42}}')
    assert scan_log_text(quiet, [trace]) == []


def test_the_suppression_matcher_knows_ids_claimed_ids_emails_and_phones():
    key = b"k"
    match = matcher(key, frozenset({customer_token(key, 42)}),
                     frozenset({trace_token(key, "email", "A.B@x.com"), trace_token(key, "phone", "+33 6 12 34 56 78")}))
    assert match(42, None, [])
    assert match(None, '{"customer_id": 42, "op": "UPD', None) and not match(None, '{"customer_id": 420', None)
    assert match(None, "garbage a.b@x.com", None) and match(None, "call +33612345678", None)
    assert not match(None, "garbage c.d@x.com", None)

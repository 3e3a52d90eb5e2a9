"""Governance: the audit of erasure requests (GDPR article 17). No personal data: customers appear only as tokens.

``governance/erasure_log`` is also the suppression list: the CDC ingestion drops every landed
event whose customer token is in it, so an erased customer is never ingested again. Both tables
are written by the ``gdpr_erasure`` job only (:mod:`lakehouse.assets.governance`).
"""

from __future__ import annotations

import dagster as dg

from lakehouse.tables.registry import KEY, Column, Table

DOMAIN = "governance"
OWNER = "team:data-governance"

_TOKEN = ("HMAC-SHA256 (lowercase hex) of the decimal customer_id under LAKEHOUSE_PII_KEY, as in gold/customers_masked; "
          "never the id itself")

GOVERNANCE_ERASURE_LOG = Table(
    key=dg.AssetKey(["governance", "erasure_log"]),
    description="Erasure requests processed, one row per request_id, with what was removed; customers only as tokens.",
    domain=DOMAIN,
    owner=OWNER,
    columns=(
        Column("request_id", "string", "The request's id (from the request file, or given when launched by hand).",
               nullable=False, tags={KEY}),
        Column("customer_token", "string", f"The erased customer: {_TOKEN}. The suppression list of the ingestion.",
               nullable=False),
        Column("trace_tokens", "array<string>", "HMAC-SHA256 under the same key of each email and phone the customer had "
                                                "(never the values): lets the ingestion recognise a rejected line naming "
                                                "them by email or phone only."),
        Column("requested_at", "timestamp", "When the customer asked (the request's requested_at, UTC)."),
        Column("source", "string", "Where the request came from: erasure_requests/<file>:<line>, or launchpad."),
        Column("completed_at", "timestamp", "When the erasure was proven complete; NULL while it is under way "
                                            "(a run that failed half-way: run gdpr_erasure again, it resumes)."),
        Column("rows_removed", "map<string,bigint>", "Rows deleted per table (layer.table) for this customer."),
        Column("files_purged", "map<string,bigint>", "Data and Change Data Feed files VACUUM deleted per table by the "
                                                     "run (shared by every request of that run)."),
        Column("log_files_removed", "map<string,bigint>", "Delta log files (commits, checksums, checkpoints) deleted per "
                                                          "table when the run truncated its history."),
        Column("dagster_run_id", "string", "The gdpr_erasure run that processed the request."),
    ),
)

GOVERNANCE_ERASURE_REQUEST_REJECTS = Table(
    key=dg.AssetKey(["governance", "erasure_request_rejects"]),
    description="Erasure requests not carried out (malformed, unknown customer, repeated), with the reason; no raw text.",
    domain=DOMAIN,
    owner=OWNER,
    columns=(
        Column("dagster_run_id", "string", "The gdpr_erasure run that read the request.", nullable=False, tags={KEY}),
        Column("file", "string", "Request file name (erasure_requests/<file>), or launchpad.", nullable=False, tags={KEY}),
        Column("line", "bigint", "1-based line number in the file (the position in customer_ids when launched by hand).",
               nullable=False, tags={KEY}),
        Column("request_id", "string", "The request's id when it could be read."),
        Column("customer_token", "string", f"The customer when an integer customer_id could be read: {_TOKEN}."),
        Column("reason", "string", "Why the request was not carried out; the raw line is not kept (it may hold PII)."),
        Column("rejected_at", "timestamp", "When the run rejected it."),
    ),
)

TABLES = (GOVERNANCE_ERASURE_LOG, GOVERNANCE_ERASURE_REQUEST_REJECTS)

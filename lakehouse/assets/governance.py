"""Governance: the ``gdpr_erasure`` job's one step, which erases customers (GDPR article 17) and proves it.

The step reads the requests (request files the ``erasure_requests`` sensor passes, or
``customer_ids`` launched by hand), rejects the ones that cannot be carried out, records the
others in ``governance/erasure_log`` as under way (from then on the CDC ingestion suppresses the
customer), deletes every row holding each customer from every table with personal data
(:mod:`lakehouse.governance.erasure`), purges those tables' history (:mod:`lakehouse.governance.purge`:
REORG, VACUUM RETAIN 0 HOURS, checkpoint, log truncation; **time travel and RESTORE of those
tables to versions before the erasure are impossible afterwards, by design**), then opens every
file of those tables and fails the ERROR check ``erasure_complete`` if any still holds a customer
(:mod:`lakehouse.governance.evidence`). A request is completed (``completed_at``) once proven;
a run that failed half-way is simply run again: its requests resume.

Example (run config, as in the launchpad)::

    customer_ids: [42]
    request_id: "DPO-2025-017"
    reason: "ticket DPO-2025-017"
"""


from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field
from pyspark.sql import SparkSession

from lakehouse import delta, tables
from lakehouse.assets.declared import table_spec
from lakehouse.governance.erasure import Customer, Removed, erase_rows, known_ids, pii_tables, traces
from lakehouse.governance.evidence import Trace, landing_lines, scan_table
from lakehouse.governance.purge import PurgeResult, purge_history
from lakehouse.governance.requests import FOLDER, Rejected, Request, manual_requests, read_request_files
from lakehouse.governance.suppression import trace_tokens
from lakehouse.governance.tokens import PiiKey, customer_token
from lakehouse.operations.observe import TableState, observe
from lakehouse.resources import LandingZone, SparkResource, Warehouse

ERASURE_LOG, REJECTS = tables.GOVERNANCE_ERASURE_LOG, tables.GOVERNANCE_ERASURE_REQUEST_REJECTS
IDENTIFIED_BY = (tables.BRONZE_CUSTOMERS_CDC, tables.SILVER_DIM_CUSTOMER)  # where a customer "is known"
ERASE_OP = "erase_customers"
CHECK = "erasure_complete"
REASON_TAG = "lakehouse/reason"
FINDINGS_SHOWN = 20


class ErasureConfig(dg.Config):
    """What ``gdpr_erasure`` erases: request files (the sensor), customers given by hand, or both."""

    files: list[str] = Field(default_factory=list, description="Request files (JSON Lines under erasure_requests/) "
                                                               "to process; the erasure_requests sensor sets them.")
    customer_ids: list[int] = Field(default_factory=list, description="Customers to erase, launched by hand.")
    request_id: str = Field(default="", description="Request id of the customers launched by hand (default "
                                                    "manual-<run id>; <request_id>#<n> for the n-th of several).")
    reason: str = Field(default="", description="Why (e.g. a ticket): logged and tagged on the run. No personal data.")


@dg.config_mapping
def erasure_config(config: ErasureConfig) -> dict:
    """The job's config is the step's, one level up: the launchpad shows four fields."""
    return {"ops": {ERASE_OP: {"config": config.model_dump()}}}


def build() -> list[dg.AssetsDefinition]:
    # No deps on the tables it erases from: it rewrites them rather than derives from them, and the change-feed
    # accounting check (on bronze/customers_cdc) reads governance/erasure_log, so such deps would form a cycle.
    @dg.multi_asset(
        name=ERASE_OP,
        specs=[table_spec(ERASURE_LOG), table_spec(REJECTS)],
        check_specs=[dg.AssetCheckSpec(
            CHECK, asset=ERASURE_LOG.key,
            description="Every file of every table with personal data (any version, Change Data Feed, _delta_log) was "
                        "opened: none holds an erased customer's id, email or phone.",
        )],
    )
    def erase_customers(context: dg.AssetExecutionContext, config: ErasureConfig, spark: SparkResource,
                        landing: LandingZone, warehouse: Warehouse, pii_key: PiiKey) -> Iterator[object]:
        """Erase the requested customers from every table with personal data, purge their history, prove it."""
        session = spark.get_session()
        for table in (ERASURE_LOG, REJECTS):
            warehouse.ensure(table.key)
        now = datetime.now(UTC)
        requests, rejected = read_request_files(config.files)
        if config.customer_ids:
            requests += manual_requests(config.customer_ids, config.request_id.strip() or f"manual-{context.run.run_id}", now)
        if config.reason.strip():
            context.log.info(f"Reason given for this erasure: {config.reason.strip()}")
            context.instance.add_run_tags(context.run.run_id, {REASON_TAG: config.reason.strip()})
        tokenize = _tokenizer(pii_key, requests, rejected)
        valid, refused = _triage(session, warehouse, requests, tokenize)
        rejected += refused
        context.log.info(f"{len(valid)} request(s) to carry out, {len(rejected)} rejected")
        with warehouse.tracked(ERASURE_LOG.key, REJECTS.key, lakehouse_operation="gdpr_erasure") as write:
            _write_rejects(session, warehouse, rejected, tokenize, context.run.run_id, now)
            outcome = _erase(context, session, warehouse, landing, valid, tokenize) if valid else None
        summary = outcome.summary() if outcome else {"rows_removed": {}, "files_purged": {}, "log_files_removed": {}}
        extra = {"requests_processed": len(valid), "requests_rejected": len(rejected),
                 **{k: dg.MetadataValue.json(v) for k, v in summary.items()}}
        if outcome:
            extra["vacuum_retention"] = "0 hours (retention check disabled for this job's VACUUM only)"
        yield dg.MaterializeResult(asset_key=ERASURE_LOG.key, metadata=warehouse.materialization(
            ERASURE_LOG.key, warehouse.result(write, ERASURE_LOG.key), **extra))
        yield dg.MaterializeResult(asset_key=REJECTS.key, metadata=warehouse.materialization(
            REJECTS.key, warehouse.result(write, REJECTS.key), rejected_in_this_run=len(rejected),
            reasons=dg.MetadataValue.json(sorted({r.reason for r in rejected}))))
        yield outcome.check() if outcome else dg.AssetCheckResult(
            check_name=CHECK, asset_key=ERASURE_LOG.key, passed=True,
            description="No request was carried out in this run: nothing to prove.", metadata={"requests_checked": 0})

    return [erase_customers]


class _Tokenizer:
    """Token of a customer id under the key (read only when some id needs a token)."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def __call__(self, customer_id: int) -> str:
        return customer_token(self.key, customer_id)


def _tokenizer(pii_key: PiiKey, requests: list[Request], rejected: list[Rejected]) -> _Tokenizer:
    if not requests and all(r.customer_id is None for r in rejected):
        return _Tokenizer(b"")  # nothing to tokenize: no key needed
    return _Tokenizer(pii_key.secret("gdpr_erasure (it records customers as tokens)"))


def _triage(spark: SparkSession, warehouse: Warehouse, requests: list[Request], tokenize: _Tokenizer) -> tuple[list[Request], list[Rejected]]:
    """The requests to carry out (new, or under way since a failed run), and the rejected ones with the reason."""
    logged = {}
    if delta.exists(spark, warehouse.path(ERASURE_LOG.key)):
        rows = delta.read(spark, warehouse.path(ERASURE_LOG.key)).select("request_id", "customer_token", "completed_at")
        logged = {r["request_id"]: (r["customer_token"], r["completed_at"]) for r in rows.collect()}
    erased = {token: request_id for request_id, (token, done) in logged.items() if done is not None}
    known = known_ids(spark, [warehouse.path(t.key) for t in IDENTIFIED_BY], [r.customer_id for r in requests])
    valid: list[Request] = []
    rejected: list[Rejected] = []
    seen_requests: set[str] = set()
    seen_tokens: set[str] = set()
    for request in requests:
        token = tokenize(request.customer_id)
        earlier = logged.get(request.request_id)
        reason = None
        if earlier is not None and earlier[1] is not None:
            reason = "repeated request: request_id already processed (governance/erasure_log)"
        elif earlier is not None and earlier[0] != token:
            reason = "request_id already used for another customer (governance/erasure_log)"
        elif earlier is None and token in erased:
            reason = f"repeated request: customer already erased by request {erased[token]}"
        elif request.request_id in seen_requests or token in seen_tokens:
            reason = "repeated request: the same request_id or customer appears earlier in this run"
        elif earlier is None and request.customer_id not in known:
            reason = "unknown customer: no row in bronze/customers_cdc nor silver/dim_customer"
        if reason:
            rejected.append(Rejected(request.file, request.line, reason, request.request_id, request.customer_id))
        else:
            valid.append(request)
            seen_requests.add(request.request_id)
            seen_tokens.add(token)
    return valid, rejected


def _write_rejects(spark: SparkSession, warehouse: Warehouse, rejected: list[Rejected], tokenize: _Tokenizer, run_id: str,
                   now: datetime) -> None:
    if not rejected:
        return
    rows = [(run_id, r.file, r.line, r.request_id, None if r.customer_id is None else tokenize(r.customer_id), r.reason, now)
            for r in rejected]
    delta.insert_new(spark, warehouse.path(REJECTS.key), spark.createDataFrame(rows, REJECTS.schema),
                     on="t.dagster_run_id = s.dagster_run_id AND t.file = s.file AND t.line = s.line")


class Outcome:
    """What the erasure did and found, per table and request; its check result and summary."""

    def __init__(self, requests: list[Request], removed: dict[str, Removed], purged: dict[str, PurgeResult],
                 findings: list, landing: dict[str, dict[str, list[int]]]) -> None:
        self.requests, self.removed, self.purged, self.findings, self.landing = requests, removed, purged, findings, landing

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            "rows_removed": {name: r.total for name, r in self.removed.items()},
            "files_purged": {name: p.files_deleted for name, p in self.purged.items()},
            "log_files_removed": {name: p.log_files_deleted for name, p in self.purged.items()},
        }

    def proven(self, request_id: str) -> bool:
        return not any(f.request_id == request_id for f in self.findings)

    def check(self) -> dg.AssetCheckResult:
        files = sorted({(f.table, f.file) for f in self.findings})
        shown = "; ".join(f.describe() for f in self.findings[:FINDINGS_SHOWN])
        more = f" (and {len(self.findings) - FINDINGS_SHOWN} more)" if len(self.findings) > FINDINGS_SHOWN else ""
        lines = sum(len(n) for files_ in self.landing.values() for n in files_.values())
        return dg.AssetCheckResult(
            check_name=CHECK, asset_key=ERASURE_LOG.key, passed=not self.findings, severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{len(self.requests)} customer(s) erased: no file of {', '.join(sorted(self.purged))} holds them."
                if not self.findings else
                f"{len(files)} file(s) still hold an erased customer: {shown}{more}. Their requests stay under way "
                "(completed_at NULL): remove what holds them (e.g. a copy left in the table folder), then run "
                "gdpr_erasure again with the same request (it resumes)."
            ) + (f" The landing zone still holds them on {lines} line(s) (metadata landing_lines): tell the source "
                 "owner to purge them." if lines else ""),
            metadata={
                "requests_checked": len(self.requests),
                "tables_scanned": dg.MetadataValue.json(sorted(self.purged)),
                "findings": dg.MetadataValue.json([f.describe() for f in self.findings]),
                "landing_lines": dg.MetadataValue.json(self.landing),
            },
        )


def _erase(context: dg.AssetExecutionContext, spark: SparkSession, warehouse: Warehouse, landing: LandingZone,
           requests: list[Request], tokenize: _Tokenizer) -> Outcome:
    sources = [warehouse.path(t.key) for t in IDENTIFIED_BY]
    customers = traces(spark, sources, [Customer(r.request_id, r.customer_id, tokenize(r.customer_id)) for r in requests])
    log_path = warehouse.path(ERASURE_LOG.key)
    _log_rows(spark, log_path, requests, customers, tokenize, run_id=context.run.run_id)  # under way: suppressed from now on
    present = [t for t in pii_tables() if warehouse.exists(t.key)]
    before = {t.name: TableState.of(spark, warehouse.path(t.key)) for t in present}
    removed = {t.name: erase_rows(spark, t, warehouse.path(t.key), customers) for t in present}
    context.log.warning("VACUUM RETAIN 0 HOURS with Delta's retention check disabled (this job only), and the Delta log "
                        f"truncated, on {', '.join(t.name for t in present)}: versions before this erasure can no "
                        "longer be read, time travelled to or restored.")
    purged = {t.name: purge_history(spark, warehouse.path(t.key)) for t in present}
    found = [Trace(c.request_id, c.customer_id, frozenset(c.texts())) for c in customers]
    findings = [f for t in present for f in scan_table(warehouse.path(t.key), t.name, found)]
    cdc = landing_lines(f"{landing.root}/customers_cdc", found)
    asked = landing_lines(f"{landing.root}/{FOLDER}", found)
    landing_report = {r: {**{f"customers_cdc/{k}": v for k, v in cdc.get(r, {}).items()},
                          **{f"{FOLDER}/{k}": v for k, v in asked.get(r, {}).items()}} for r in {*cdc, *asked}}
    outcome = Outcome(requests, removed, purged, findings, landing_report)
    _log_rows(spark, log_path, requests, customers, tokenize, run_id=context.run.run_id, outcome=outcome)
    for table in present:
        observe(context.op_execution_context, table, "erasure", before[table.name],
                TableState.of(spark, warehouse.path(table.key)),
                description=f"gdpr_erasure removed {removed[table.name].total} row(s) of {len(requests)} customer(s) "
                            f"from {table.name} and purged its history",
                rows_removed=removed[table.name].total, **purged[table.name].metadata(),
                vacuum_retention_hours=0, dagster_run_id=context.run.run_id)
    for finding in findings:
        context.log.error(f"erasure_complete: {finding.describe()}")
    return outcome


def _log_rows(spark: SparkSession, path, requests: list[Request], customers: list[Customer], tokenize: _Tokenizer, *, run_id: str,
              outcome: Outcome | None = None) -> None:
    """Record the requests in governance/erasure_log: under way (no outcome yet), then with what was done."""
    by_request = {c.request_id: c for c in customers}
    key = tokenize.key
    done = datetime.now(UTC)
    rows = []
    for r in requests:
        customer = by_request[r.request_id]
        traced = trace_tokens(key, customer.emails, customer.phones)
        if outcome is None:
            rows.append((r.request_id, customer.token, traced, r.requested_at, r.source, None, None, None, None, run_id))
        else:
            rows.append((
                r.request_id, customer.token, traced, r.requested_at, r.source,
                done if outcome.proven(r.request_id) else None,
                {name: int(removed.by_request.get(r.request_id, 0)) for name, removed in outcome.removed.items()},
                {name: p.files_deleted for name, p in outcome.purged.items()},
                {name: p.log_files_deleted for name, p in outcome.purged.items()},
                run_id,
            ))
    frame = spark.createDataFrame(rows, ERASURE_LOG.schema)
    if outcome is None:
        delta.insert_new(spark, path, frame, on="t.request_id = s.request_id")
    else:
        columns = ("trace_tokens", "completed_at", "rows_removed", "files_purged", "log_files_removed", "dagster_run_id")
        delta.merge(spark, path, frame, "t.request_id = s.request_id",
                    "WHEN MATCHED THEN UPDATE SET " + ", ".join(f"t.{c} = s.{c}" for c in columns))

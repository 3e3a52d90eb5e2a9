"""``lakehouse-checks``: build a fresh sample lakehouse with injected faults and run every asset check.

It generates a landing zone (the generator's default fault rates: malformed lines, wrong types,
duplicates, ...), materializes the reference data (stores, products), the customer change feed
and dimension, then the whole sales chain and the revenue by city over all days as single-run
backfills, and the clickstream, with every asset check, prints a table of check → status and
exits 1 if any ERROR-severity check failed or the run itself failed (0 otherwise; WARN results
are printed, not fatal). The README's ``make test`` runs it after the unit tests. Customer
tokens use ``LAKEHOUSE_PII_KEY`` when it is set, else a throwaway key (said on the first line).

Usage::

    lakehouse-checks                       # 7 days × 500 rows in a temporary folder
    lakehouse-checks --days 14 --keep out  # keep the lakehouse in ./out to inspect it
"""

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lakehouse.definitions import build_definitions, quiet_warnings
from lakehouse.generator import FaultRates, generate_landing_zone
from lakehouse.governance.dev_key import throwaway_key
from lakehouse.settings import LakehouseSettings

START = date(2025, 1, 1)
# Runs print warnings and errors only: the table below is what a user reads.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main(argv: list[str] | None = None) -> int:
    quiet_warnings()
    parser = argparse.ArgumentParser(description="Run every asset check on a fresh sample lakehouse with injected faults.")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows-per-day", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", type=Path, help="build the lakehouse in this folder and keep it (default: a temp folder)")
    parser.add_argument("--landing", type=Path, help="check this existing landing zone instead of generating one")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lakehouse-checks-") as scratch:
        root = args.keep or Path(scratch)
        settings = LakehouseSettings.for_root(root)
        if args.landing:
            settings = LakehouseSettings.for_root(root, landing=args.landing.resolve())
            days = sorted(p.name for p in (settings.landing / "sales").iterdir() if p.is_dir())
        else:
            generate_landing_zone(settings.landing, START, days=args.days, rows_per_day=args.rows_per_day,
                                  seed=args.seed, faults=FaultRates(), force=True)
            days = [(START + timedelta(days=i)).isoformat() for i in range(args.days)]
        with throwaway_key() as key_note:  # gold/customers_masked needs a key for its tokens
            print(key_note)
            rows, run_ok = run_all_checks(settings, days[0], days[-1])
    print_table(rows)
    errors = [r for r in rows if r["status"] == "FAILED" and r["severity"] == "ERROR"]
    if not run_ok:
        print("the run failed (see the Dagster log above)")
    print(f"{len(rows)} checks: {sum(r['status'] == 'PASSED' for r in rows)} passed, "
          f"{len(errors)} ERROR failed, {sum(r['status'] == 'FAILED' and r['severity'] == 'WARN' for r in rows)} WARN failed")
    return 1 if errors or not run_ok else 0


# gdpr_erasure last: with no request it erases nothing, creates the governance tables and runs their checks.
JOBS = ("reference_data", "customer_dimension", "sales_pipeline", "customer_revenue", "clickstream", "gdpr_erasure")


def materialize_everything(
    defs: dg.Definitions, instance: dg.DagsterInstance, first: str, last: str, run_config: dict | None = None
) -> list[dg.ExecuteInProcessResult]:
    """One run of every job, in dependency order; the daily ones as single-run backfills of ``first``..``last``.

    Example::

        results = materialize_everything(build_definitions(settings), instance, "2025-01-01", "2025-01-07")
        all(r.success for r in results)
    """
    days = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    daily = {"sales_pipeline", "customer_revenue"}
    jobs = [defs.resolve_job_def(job) for job in JOBS]
    return [
        # A job with a config mapping (gdpr_erasure: request fields) takes only its own fields, not logger settings.
        job.execute_in_process(instance=instance, tags=days if job.name in daily else None, raise_on_error=False,
                               run_config=None if job.config_mapping else run_config)
        for job in jobs
    ]


def run_all_checks(settings: LakehouseSettings, first: str, last: str) -> tuple[list[dict], bool]:
    """Materialize everything with its checks on a real (ephemeral) instance; one row per check."""
    instance = dg.DagsterInstance.ephemeral()
    return check_rows(materialize_everything(build_definitions(settings), instance, first, last, run_config=QUIET))


def check_rows(results: list[dg.ExecuteInProcessResult]) -> tuple[list[dict], bool]:
    """The checks command's verdict on runs: one row per check, and whether every run succeeded (failures printed).

    Example::

        rows, runs_ok = check_rows(materialize_everything(defs, instance, "2025-01-01", "2025-01-03"))
    """
    evaluations = [
        event.event_specific_data
        for result in results for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    for result in results:
        if not result.success:
            print(f"run of {result.dagster_run.job_name} failed: {result.get_run_failure_event().message}", file=sys.stderr)
    return summarize(evaluations), all(result.success for result in results)


def summarize(evaluations) -> list[dict]:
    """One row per check: its partitions' results folded together (a check fails if any partition fails)."""
    by_check: dict[str, list] = {}
    for evaluation in evaluations:
        by_check.setdefault(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}", []).append(evaluation)
    rows = []
    for check, results in by_check.items():
        failed = [e for e in results if not e.passed]
        worst = next((e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR), failed[0] if failed else results[0])
        partitions = [e.partition for e in results if e.partition]
        rows.append({
            "check": check,
            "partitions": f"{len(results) - len(failed)}/{len(results)} passed" if partitions else "",
            "severity": worst.severity.value,
            "status": "FAILED" if failed else "PASSED",
            "detail": ((f"[{worst.partition}] " if failed and worst.partition else "")
                       + (worst.description or "")).replace("\n", " ")[:110],
        })
    return rows


def print_table(rows: list[dict]) -> None:
    width = max([len(r["check"]) for r in rows] + [5])
    print(f"\n{'check':<{width}}  {'status':<6}  {'severity':<8}  {'partitions':<12}  detail")
    print(f"{'-' * width}  {'-' * 6}  {'-' * 8}  {'-' * 12}  {'-' * 40}")
    for r in sorted(rows, key=lambda r: r["check"]):
        print(f"{r['check']:<{width}}  {r['status']:<6}  {r['severity']:<8}  {r['partitions']:<12}  {r['detail']}")
    print()


if __name__ == "__main__":
    sys.exit(main())

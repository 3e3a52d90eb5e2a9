"""Runs a stopped session left in progress are marked canceled; other runs of the same instance are left alone."""

import json

import dagster as dg

from lakehouse.dev.processes import Proc
from lakehouse.dev.runs import GRPC_INFO_TAG, cancel_runs, code_server_addresses


def test_code_server_addresses_come_from_code_server_command_lines_only():
    procs = [
        Proc(1, 0, 1, 1, "S", ("python", "-m", "dagster", "code-server", "start", "--socket", "/tmp/proxy")),
        Proc(2, 1, 1, 1, "S", ("python", "-m", "dagster", "api", "grpc", "--socket", "/tmp/server")),
        Proc(3, 1, 1, 1, "S", ("python", "-m", "dagster", "api", "grpc", "--port", "4266")),
        Proc(4, 1, 1, 1, "S", ("python", "-m", "dagster_webserver", "--port", "3000")),
    ]
    assert code_server_addresses(procs) == {"/tmp/proxy", "/tmp/server", "4266"}


def test_cancel_runs_marks_only_in_progress_runs_started_through_the_session():
    def run(status, **grpc_info):
        tags = {GRPC_INFO_TAG: json.dumps({"host": "localhost", **grpc_info})} if grpc_info else {}
        return instance.add_run(dg.DagsterRun(job_name="sales_pipeline", status=status, tags=tags))

    with dg.instance_for_test() as instance:
        ours = run(dg.DagsterRunStatus.STARTED, socket="/tmp/ours")
        ours_by_port = run(dg.DagsterRunStatus.STARTING, port=4266)
        finished = run(dg.DagsterRunStatus.SUCCESS, socket="/tmp/ours")
        other_session = run(dg.DagsterRunStatus.STARTED, socket="/tmp/theirs")
        not_started = run(dg.DagsterRunStatus.NOT_STARTED)

        canceled = cancel_runs(instance, {"/tmp/ours", "4266"}, "stopped with make dev")

        assert sorted(canceled) == sorted([ours.run_id, ours_by_port.run_id])
        status = {r.run_id: r.status for r in instance.get_runs()}
        assert status[ours.run_id] == status[ours_by_port.run_id] == dg.DagsterRunStatus.CANCELED
        assert status[finished.run_id] == dg.DagsterRunStatus.SUCCESS
        assert status[other_session.run_id] == dg.DagsterRunStatus.STARTED
        assert status[not_started.run_id] == dg.DagsterRunStatus.NOT_STARTED
        messages = [e.message for e in instance.all_logs(ours.run_id)]
        assert "stopped with make dev" in messages


def test_without_an_instance_nothing_is_canceled():
    assert cancel_runs(None, {"/tmp/ours"}, "stopped") == []

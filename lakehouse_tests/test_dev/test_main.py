"""What ``make dev`` starts: the Spark Connect server first (stopped with SIGTERM), unless told otherwise."""

import signal

import pytest

from lakehouse.dev.__main__ import CONNECT, DAGSTER_DEV, connect_choice, main, services


def test_the_connect_server_starts_first_and_stops_on_sigterm():
    started = services("127.0.0.1", 3000)
    assert [s.name for s in started] == [CONNECT, DAGSTER_DEV]
    assert started[0].stop_signal == signal.SIGTERM and "lakehouse.connect" in started[0].argv
    assert [s.name for s in services("127.0.0.1", 3000, connect_port=None)] == [DAGSTER_DEV]


def test_no_local_server_when_switched_off_or_pointed_elsewhere():
    assert connect_choice(False, {}) is None
    assert "--no-connect" in str(connect_choice(True, {}))
    assert connect_choice(False, {"LAKEHOUSE_DEV_CONNECT": "off"}) is not None
    assert connect_choice(False, {"LAKEHOUSE_DEV_CONNECT": "ON"}) is None
    elsewhere = connect_choice(False, {"LAKEHOUSE_SPARK_REMOTE": "sc://spark.example:443/;token=secret"})
    assert elsewhere is not None and "sc://spark.example:443/;token=***" in elsewhere and "secret" not in elsewhere
    cluster = connect_choice(False, {"LAKEHOUSE_SPARK_MASTER": "spark://127.0.0.1:7077"})
    assert cluster is not None and "spark://127.0.0.1:7077" in cluster
    assert connect_choice(False, {"LAKEHOUSE_SPARK_MASTER": "local[2]"}) is None


def test_make_dev_refuses_a_connect_switch_it_cannot_read_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("LAKEHOUSE_DEV_CONNECT", "of")
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "LAKEHOUSE_DEV_CONNECT='of' is neither on nor off" in capsys.readouterr().err

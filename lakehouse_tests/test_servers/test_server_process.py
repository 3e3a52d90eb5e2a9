"""The server life cycle the Spark Connect server and the SQL endpoint share (:class:`lakehouse.servers.ServerProcess`).

Run with a real, quick server (Python's ``http.server``) started by ``sh``, so each case takes a second or
two; the Spark servers' own modules (``test_connect``, ``test_sql``) run the same life cycle with their JVMs.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse import servers
from lakehouse.servers import ServerProcess, port_in_use
from lakehouse_tests.conftest import free_port
from lakehouse_tests.test_e2e.processes import session_members


class HttpServerError(RuntimeError):
    pass


class HttpServer(ServerProcess):
    """``python -m http.server`` behind ``sh``, with whatever ``before`` runs first in the same process group."""

    error = HttpServerError
    what = "test HTTP server"

    def __init__(self, tmp_path: Path, port: int, before: str = "", timeout: float = 30) -> None:
        serve = f"exec {sys.executable} -m http.server {port} --bind 127.0.0.1"
        super().__init__(["sh", "-c", f"{before}{serve}"], tmp_path / "server.log", host="127.0.0.1", port=port,
                         timeout=timeout, cwd=tmp_path / "root")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_for_answer(self, timeout: float, alive: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not port_in_use(self.host, self.port):
            if not alive():
                raise HttpServerError(f"the test HTTP server at {self.url} stopped before it answered")
            if time.monotonic() > deadline:
                raise HttpServerError(f"the test HTTP server at {self.url} was not ready after {timeout:g} s")
            time.sleep(0.05)


def test_a_server_answers_inside_its_block_and_leaves_nothing_running_after_it(tmp_path):
    with HttpServer(tmp_path, free_port()) as server:
        assert server.process is not None
        pid = server.process.pid
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert response.status == 200
        assert server.ready_seconds is not None
        assert (tmp_path / "root").is_dir()  # the working directory is created
    assert server.process is None
    assert session_members(pid) == {}
    assert not port_in_use("127.0.0.1", server.port)
    assert "GET / HTTP" in (tmp_path / "server.log").read_text()  # the server's output went to its log


def test_stop_waits_for_every_process_of_the_group_not_only_its_leader(tmp_path, monkeypatch):
    # A member that ignores SIGTERM outlives the leader: stop must wait for it, then SIGKILL it.
    monkeypatch.setattr(servers, "STOP_TIMEOUT", 2.0)
    with HttpServer(tmp_path, free_port(), before="(trap '' TERM; sleep 300) & ") as server:
        assert server.process is not None
        pid = server.process.pid
        assert len(session_members(pid)) >= 2  # http.server and the sleeping subshell
        started = time.monotonic()
    assert session_members(pid) == {}
    assert time.monotonic() - started >= 2.0  # it waited for the stubborn member before killing it


def test_a_taken_port_is_refused_naming_it_and_what_to_do(tmp_path):
    with HttpServer(tmp_path / "first", free_port()) as first:
        second = HttpServer(tmp_path / "second", first.port)
        with pytest.raises(HttpServerError, match=rf"port {first.port} on 127.0.0.1 is taken: another test HTTP "
                                                  rf"server \(or other program\) listens there. Connect to "
                                                  rf"{first.url}, stop it, or pick another port\."):
            second.start()
        assert second.process is None


def test_a_server_that_ends_before_answering_fails_naming_its_log_and_is_stopped(tmp_path):
    server = HttpServer(tmp_path, free_port(), before="echo 'no such module' >&2; exit 3; ")
    with pytest.raises(HttpServerError, match=r"stopped before it answered; server log: .*server\.log"):
        server.start()
    assert server.process is None
    assert "no such module" in (tmp_path / "server.log").read_text()


def test_a_server_that_does_not_answer_in_time_is_stopped(tmp_path):
    server = HttpServer(tmp_path, free_port(), before="sleep 30; ", timeout=1)
    started = time.monotonic()
    with pytest.raises(HttpServerError, match="was not ready after 1 s"):
        server.start()
    assert server.process is None
    assert time.monotonic() - started < 15  # SIGTERM ended the sleeping shell; nothing waited out the sleep

"""The subprocess engine's Pipes message reader hands on whole lines only.

Dagster's default file reader parsed a message the entry point was still writing (a fresh-clone CI
run of ea2f603 failed four Pipes tests on ``JSONDecodeError: Unterminated string``). The first test
writes a message in two pieces, as a reader polling mid-write sees a large one; Dagster's
``tail_file`` hands on the first piece as a line and fails it. The last runs a real Pipes subprocess
through the reader with messages and extras far larger than a write buffer.
"""

import json
import sys
import threading
import time

import dagster as dg
import pytest

from lakehouse.pipes.engines import WholeLineFileMessageReader, whole_lines

BIG = "x" * 3_000_000  # ~3 MB in one message: many writes of the subprocess's buffer

SUBPROCESS = """
from dagster_pipes import open_dagster_pipes
with open_dagster_pipes() as pipes:
    for n in range(20):
        pipes.report_custom_message({"n": n, "payload": "x" * 150_000})
    pipes.report_asset_materialization(metadata={"big": len(pipes.extras["big"])})
"""


def read_in_thread(path, closed):
    lines: list[str] = []
    errors: list[Exception] = []

    def consume():
        try:
            lines.extend(whole_lines(str(path), closed.is_set))
        except Exception as error:  # handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    return thread, lines, errors


def test_a_message_written_in_two_pieces_is_read_once_whole(tmp_path):
    path = tmp_path / "messages.jsonl"
    first = json.dumps({"method": "report_custom_message", "params": {"payload": "ab"}})
    second = json.dumps({"method": "closed", "params": {}})
    path.write_text(first[:20], encoding="utf-8")
    closed = threading.Event()
    thread, lines, errors = read_in_thread(path, closed)
    time.sleep(0.2)  # the reader has polled the half line many times
    assert lines == []
    with path.open("a", encoding="utf-8") as stream:
        stream.write(first[20:] + "\n" + second + "\n")
    closed.set()
    thread.join(timeout=10)
    assert errors == []
    assert lines == [first, second]
    assert [json.loads(line)["method"] for line in lines] == ["report_custom_message", "closed"]


def test_a_message_cut_off_when_the_writer_stopped_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_text('{"method": "opened"}\n{"method": "report_cu', encoding="utf-8")
    closed = threading.Event()
    closed.set()
    thread, lines, errors = read_in_thread(path, closed)
    thread.join(timeout=10)
    assert lines == ['{"method": "opened"}']
    assert len(errors) == 1 and isinstance(errors[0], ValueError)
    assert str(path) in str(errors[0]) and "no end of line" in str(errors[0])


@pytest.mark.timeout(120)
def test_large_messages_from_a_real_pipes_subprocess_all_arrive(tmp_path):
    script = tmp_path / "entry.py"
    script.write_text(SUBPROCESS, encoding="utf-8")

    @dg.asset
    def big(context: dg.AssetExecutionContext, pipes: dg.PipesSubprocessClient):
        invocation = pipes.run(context=context, command=[sys.executable, str(script)], extras={"big": BIG})
        messages = invocation.get_custom_messages()
        assert [message["n"] for message in messages] == list(range(20))
        assert all(len(message["payload"]) == 150_000 for message in messages)
        return invocation.get_materialize_result()

    client = dg.PipesSubprocessClient(message_reader=WholeLineFileMessageReader())
    result = dg.materialize([big], resources={"pipes": client})
    assert result.success
    [materialization] = result.asset_materializations_for_node("big")
    assert materialization.metadata["big"].value == len(BIG)

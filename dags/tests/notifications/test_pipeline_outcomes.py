"""
The notifiers that report a pipeline's outcomes to tandem: what a failed task's report holds (its
partition, task, try, exception type and first line), that the stage factories give every task
of a partition the failure callback, and — in a real ``dag.test()`` run of a generated DAG against
a stand-in control API on loopback — that a failing partition reports itself once, the others
not at all, and the run's end reports the run.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import pytest

from airflow.sdk import Connection

from dag_test_db import serialize_for_dag_test
from fingerprint_stand_in import FingerprintStandIn
from json_http import JsonHandler, serve
from tandem_airflow.notifications.pipeline_outcomes import (
    PartitionFailureNotifier,
    PipelineRunFinishedNotifier,
    failure_error,
    partition_failure_report,
)
from tandem_airflow.utils.partition import PipelinePartition

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "services" / "pipelines" / "__golden__"
SERVICE_KEY = "tdm_svc_outcomes-test-0123456789"


class FakeTi:
    task_id = "ward-b.review"
    try_number = 2


def test_the_error_is_the_exception_type_and_its_first_line_only():
    assert failure_error(ValueError("bad row 7\nTraceback (most recent call last): …")) == {"type": "ValueError", "message": "bad row 7"}
    assert failure_error(RuntimeError("x" * 2000))["message"] == "x" * 500
    # The dag processor hands over a text (a heartbeat timeout) instead of an exception.
    assert failure_error("Task did not heartbeat") == {"type": "TaskFailure", "message": "Task did not heartbeat"}
    assert failure_error(None) == {"type": "unknown", "message": ""}


def test_a_failed_task_reports_its_partition_label_run_and_try():
    partition = PipelinePartition("discharge-summaries", "cardiology", "ward-b", True)
    context = {"ti": FakeTi(), "ds": "2026-06-02", "run_id": "scheduled__2026-06-02T01:30:00+00:00", "exception": KeyError("mrn")}
    assert partition_failure_report(partition, context) == {
        "pipelineId": "discharge-summaries",
        "partition": "ward-b:2026-06-02",
        "runId": "scheduled__2026-06-02T01:30:00+00:00",
        "taskId": "ward-b.review",
        "tryNumber": 2,
        "error": {"type": "KeyError", "message": "'mrn'"},
    }


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path_factory.mktemp("generated")
    for path in sorted(GOLDEN.glob("*.py")):
        shutil.copy(path, folder / path.name)
    bag = DagBag(dag_folder=str(folder), safe_mode=False)
    serialize_for_dag_test(bag)
    return bag


@pytest.mark.parametrize("dag_id", ["tandem__kb-refresh", "tandem__discharge-summaries", "tandem__daily-ingest", "tandem__hostile"])
def test_every_partition_task_reports_its_failure_and_the_dag_its_runs(bag, dag_id):
    dag = bag.dags[dag_id]
    for task in dag.tasks:
        notifiers = [cb for cb in task.on_failure_callback if isinstance(cb, PartitionFailureNotifier)]
        # The run's source check failing fails every partition: it reports each of them.
        expected = dag.get_task("check_sources").partitions if task.task_id == "check_sources" else [task.python_callable.args[0] if hasattr(task, "python_callable") else task.partition]
        assert [n.partition for n in notifiers] == list(expected), task.task_id
        assert all(n.partition.pipeline_id == dag_id.removeprefix("tandem__") for n in notifiers)
    for callbacks in (dag.on_success_callback, dag.on_failure_callback):
        (notifier,) = callbacks if isinstance(callbacks, list) else [callbacks]
        assert isinstance(notifier, PipelineRunFinishedNotifier)
        assert notifier.pipeline_id == dag_id.removeprefix("tandem__")


class ControlApi:
    """Records the two reports and answers them as the control API does (fingerprint calls are stood in)."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        api = self

        class Handler(JsonHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with api.lock:
                    api.reports.append((self.path, body))
                if self.headers.get("Authorization") != f"Bearer {SERVICE_KEY}":
                    return self._send(401, {"title": "Unauthorized"})
                if self.path == "/v1/fingerprints/fail":
                    return self._send(200, {"runId": body["runId"], "outcome": "failed", "reason": "recorded", "at": "t"})
                return self._send(200, {"runId": "r", "state": "failed", "partitions": {}})

        self.server, self.url = serve(Handler)


@pytest.fixture
def control_api(monkeypatch):
    api = ControlApi()
    conn = Connection(conn_id="tandem_default", conn_type="http", host=api.url, password=SERVICE_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())
    yield api
    api.server.shutdown()


def test_a_real_run_reports_the_failed_partition_once_and_the_runs_end(bag, control_api, monkeypatch, tmp_path):
    dag = bag.dags["tandem__skip-per-partition"]
    # The source check and commit are stood in: not what this tests.
    monkeypatch.setitem(sys.modules, "tandem_airflow.utils.fingerprints", FingerprintStandIn(set()).module())
    monkeypatch.setenv("PIPELINE_TEST_OUT", str(tmp_path))
    # beta's `write` stage cannot write its file (a directory is in the way): bash exits 1, no retries.
    (tmp_path / "beta.txt").mkdir()
    dag_run = dag.test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["beta.write"] == "failed" and states["beta.commit_fingerprints"] == "upstream_failed"
    assert states["alpha.commit_fingerprints"] == states["gamma.commit_fingerprints"] == "success"
    assert dag_run.state == "failed"

    failures = [body for path, body in control_api.reports if path == "/v1/fingerprints/fail"]
    assert failures == [
        {
            "pipelineId": "skip-per-partition",
            "partition": "beta",
            "runId": dag_run.run_id,
            "taskId": "beta.write",
            "tryNumber": 1,
            "error": {"type": "AirflowException", "message": failures[0]["error"]["message"]},
        }
    ]
    assert "exit code 1" in failures[0]["error"]["message"]
    # The run's end names the run only: tandem reads its state and partitions from Airflow.
    ends = [(path, body) for path, body in control_api.reports if path.endswith("/finished")]
    quoted = dag_run.run_id.replace(":", "%3A").replace("+", "%2B")
    assert ends == [(f"/v1/pipelines/skip-per-partition/runs/{quoted}/finished", None)]

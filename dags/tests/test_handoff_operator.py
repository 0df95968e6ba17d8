"""
The Airflow side of the Airflow → Temporal hand-off against a stand-in for the control API's
``/v1/handoffs`` (shared/contracts/handoffs.ts):

- ``HandoffTrigger``: serialize() round trip; long poll until the workflow ends (success ends the
  task from the triggerer with the result as XCom, other outcomes resume it); 404; the API down
  for a while (refused connections, then 503) → retries with growing, capped backoff, logged, and
  nothing lost when it comes back;
- ``TemporalHandoffOperator``: the start request (placeholders, Airflow coordinates), deferral,
  the link, and failures sorted by whether a retry can help; ``execute_complete``;
- a generated-style DAG really runs (``dag.test()``) and a downstream stage reads the decision.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from json_http import JsonHandler, serve
from tandem_airflow.operators.handoff import TemporalHandoffOperator, TemporalWorkflowLink
from tandem_airflow.operators.partition import fill_placeholders
from tandem_airflow.operators.pipeline_stages import PipelinePartition, handoff_stage
from tandem_airflow.triggers.handoff import HandoffTrigger

SERVICE_KEY = "tdm_svc_handoff-test-0123456789"
RUN_ID = "scheduled__2026-06-02T01:30:00+00:00"
HANDOFF_ID = f"handoff:tandem__discharge-summaries:{RUN_ID}:ward-a.review:-1"
QUOTED_PATH = "/v1/handoffs/handoff%3Atandem__discharge-summaries%3Ascheduled__2026-06-02T01%3A30%3A00%2B00%3A00%3Award-a.review%3A-1"
DECISION = {"outcome": "approved", "decidedBy": "dr-a", "artifactVersion": f"{RUN_ID}:ward-a:2026-06-02"}


def state(status: str, **fields: Any) -> dict[str, Any]:
    """A HandoffState as the control API answers it."""
    return {
        "handoffId": HANDOFF_ID,
        "workflowId": HANDOFF_ID,
        "runId": "0193-temporal-run",
        "workflowType": "review.request",
        "department": "clinical-ai",
        "pipelineId": "discharge-summaries",
        "partition": "ward-a:2026-06-02",
        "status": status,
        "startedAt": "2026-06-02T01:31:00.000Z",
        "closedAt": None if status == "pending" else "2026-06-02T01:41:00.000Z",
        "links": {"workflow": f"/v1/workflows/{QUOTED_PATH.rsplit('/', 1)[1]}"},
        **fields,
    }


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorization: str | None


@dataclass
class ControlApiStandIn:
    """
    Answers ``POST /v1/handoffs`` and ``GET /v1/handoffs/{id}`` from scripts of ``(status, body)``,
    one per request, the last repeating; records every request.
    """

    url: str = ""
    starts: list[tuple[int, Any]] = field(default_factory=lambda: [(201, {**state("pending"), "created": True})])
    polls: list[tuple[int, Any]] = field(default_factory=lambda: [(200, state("succeeded", result=DECISION))])
    #: Answers to ``POST /v1/handoffs/{id}/xcom`` (the result written as the task's XCom).
    publishes: list[tuple[int, Any]] = field(default_factory=lambda: [(200, state("succeeded", result=DECISION))])
    requests: list[Request] = field(default_factory=list)

    def handler(self) -> type[JsonHandler]:
        api = self

        class Handler(JsonHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                api.answer(self, "GET", api.polls)

            def do_POST(self):  # noqa: N802
                api.answer(self, "POST", api.publishes if self.path.endswith("/xcom") else api.starts)

        return Handler

    def answer(self, handler: JsonHandler, method: str, script: list[tuple[int, Any]]) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append(Request(method, url.path, parse_qs(url.query), body, handler.headers.get("Authorization")))
        status, answer = script.pop(0) if len(script) > 1 else script[0]
        handler._send(status, answer)


def use_connection(monkeypatch, url: str) -> None:
    conn = Connection(conn_id="tandem_default", conn_type="http", host=url, password=SERVICE_KEY)
    monkeypatch.setenv("AIRFLOW_CONN_TANDEM_DEFAULT", conn.as_json())


@pytest.fixture
def api(monkeypatch):
    stand_in = ControlApiStandIn()
    server, stand_in.url = serve(stand_in.handler())
    use_connection(monkeypatch, stand_in.url)
    yield stand_in
    server.shutdown()
    server.server_close()


def events_of(trigger: HandoffTrigger, timeout: float = 20.0) -> list[TriggerEvent]:
    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout))


# --- trigger ---------------------------------------------------------------------------------------


def test_trigger_serialize_round_trips_through_airflow_serde():
    from airflow.sdk.serde import deserialize, serialize

    trigger = HandoffTrigger(
        HANDOFF_ID, tandem_conn_id="tandem_other", wait_ms=5_000, backoff_base_seconds=0.5, backoff_max_seconds=8, end_from_trigger=False
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "tandem_airflow.triggers.handoff.HandoffTrigger"
    # What the task runner stores and the triggerer rebuilds the trigger from.
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "handoff_id": HANDOFF_ID,
        "tandem_conn_id": "tandem_other",
        "wait_ms": 5_000,
        "backoff_base_seconds": 0.5,
        "backoff_max_seconds": 8,
        "end_from_trigger": False,
    }


def test_trigger_long_polls_until_success_and_ends_the_task_with_the_result(api):
    api.polls = [(200, state("pending")), (200, state("pending")), (200, state("succeeded", result=DECISION))]

    events = events_of(HandoffTrigger(HANDOFF_ID))

    assert len(events) == 1
    assert isinstance(events[0], TaskSuccessEvent)
    # The result reaches XCom through the control API (Airflow's REST API), not the event.
    assert events[0].xcoms is None
    assert [(r.method, r.path, r.query) for r in api.requests] == [("GET", QUOTED_PATH, {"waitMs": ["25000"]})] * 3 + [
        ("POST", f"{QUOTED_PATH}/xcom", {})
    ]
    assert {r.authorization for r in api.requests} == {f"Bearer {SERVICE_KEY}"}


def test_when_the_result_cannot_be_written_as_xcom_the_task_resumes_on_a_worker_with_it(api):
    api.publishes = [(503, {"title": "Airflow is not available", "status": 503})]
    events = events_of(HandoffTrigger(HANDOFF_ID))
    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload["status"] == "succeeded" and events[0].payload["result"] == DECISION


def test_trigger_without_the_fast_path_resumes_the_task_with_the_state(api):
    events = events_of(HandoffTrigger(HANDOFF_ID, end_from_trigger=False))
    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload["status"] == "succeeded" and events[0].payload["result"] == DECISION


def test_a_rejected_review_resumes_the_task_to_fail_it_with_the_reason(api):
    rejected = state("rejected", result={"outcome": "rejected"}, reason='rejected by dr-a: "wrong dose"')
    api.polls = [(200, state("pending")), (200, rejected)]

    events = events_of(HandoffTrigger(HANDOFF_ID))

    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload == rejected


def test_unknown_handoff_is_a_failure_event(api):
    api.polls = [(404, {"title": "Not found", "status": 404, "detail": f"no hand-off {HANDOFF_ID}"})]
    events = events_of(HandoffTrigger(HANDOFF_ID))
    assert len(api.requests) == 1
    assert [type(e) for e in events] == [TriggerEvent]
    assert events[0].payload["status"] == "error"
    assert events[0].payload["reason"] == f"hand-off {HANDOFF_ID} is unknown to the control API"


def test_a_refused_key_is_a_failure_event_naming_the_connection(api):
    api.polls = [(403, {"title": "Not allowed", "status": 403})]
    (event,) = events_of(HandoffTrigger(HANDOFF_ID))
    assert event.payload["status"] == "error"
    assert "HTTP 403" in event.payload["reason"] and "'tandem_default'" in event.payload["reason"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_api_down_then_back_retries_with_growing_capped_backoff_and_loses_nothing(monkeypatch, capsys):
    """Refused connections, then 503s (the API restarting), then the outcome: one success event."""
    port = free_port()
    stand_in = ControlApiStandIn(polls=[(503, {"title": "unavailable"}), (503, {"title": "unavailable"}), (200, state("succeeded", result=DECISION))])
    use_connection(monkeypatch, f"http://127.0.0.1:{port}")
    servers = []
    # The API comes up while the trigger is backing off; nothing listens on the port until then.
    comes_back = threading.Timer(0.4, lambda: servers.append(serve(stand_in.handler(), port=port)[0]))
    comes_back.start()
    base, cap = 0.01, 0.04
    try:
        events = events_of(HandoffTrigger(HANDOFF_ID, backoff_base_seconds=base, backoff_max_seconds=cap))
    finally:
        comes_back.cancel()
        for server in servers:
            server.shutdown()
            server.server_close()

    assert [type(e) for e in events] == [TaskSuccessEvent]
    assert [r.method for r in stand_in.requests] == ["GET", "GET", "GET", "POST"]
    # Airflow's structlog writes the trigger's log lines to stdout.
    lines = capsys.readouterr().out.splitlines()
    retries = [line for line in lines if "control API unreachable" in line]
    assert all("[warning" in line for line in retries)
    refused = [line for line in retries if "(ConnectError" in line]
    unavailable = [line for line in retries if "(HTTP 503)" in line]
    assert len(refused) >= 3 and len(unavailable) == 2 and len(retries) == len(refused) + 2
    assert f"hand-off {HANDOFF_ID}: control API unreachable (ConnectError" in retries[0]
    delays = [float(re.search(r"retrying in ([0-9.]+)s", line).group(1)) for line in retries]
    assert delays == [min(cap, base * 2**i) for i in range(len(delays))]
    assert any(f"control API reachable again after {len(retries)} failed poll(s)" in line for line in lines)


# --- operator --------------------------------------------------------------------------------------


class FakeTaskInstance(SimpleNamespace):
    """What execute() uses of the task SDK's RuntimeTaskInstance."""

    def __init__(self, **fields: Any):
        defaults = {"dag_id": "tandem__discharge-summaries", "run_id": RUN_ID, "task_id": "ward-a.review", "map_index": -1, "try_number": 1}
        super().__init__(**{**defaults, **fields})
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        assert (task_ids, map_indexes) == (self.task_id, self.map_index)
        return self.pushed.get(key)


REVIEW_INPUT = {
    "department": "clinical-ai",
    "reviewType": "discharge-summary",
    "title": "Summaries {partition}",
    "artifact": {"uri": "file:///srv/summaries/{partition}/{ds}", "version": "{run_id}:{partition}"},
    "notes": ["{dag_id}/{task_id}", "{{ ds }} stays", "{unknown} stays", 3, None, True],
    "{partition}": "keys are not filled",
    "assignee": "group:reviewers",
    "escalationContact": "chief",
}


def review_operator(**overrides: Any) -> TemporalHandoffOperator:
    return handoff_stage(
        "review",
        PipelinePartition("discharge-summaries", "clinical-ai", "ward-a", True),
        workflow="review.request",
        input=REVIEW_INPUT,
        retries=2,
        retry_delay_seconds=60,
        **overrides,
    )


def context_for(ti: FakeTaskInstance) -> dict[str, Any]:
    return {"ti": ti, "ds": "2026-06-02", "run_id": ti.run_id}


def test_placeholders_are_filled_in_one_pass():
    # A value that contains a placeholder (a run id, a partition key) is not expanded again.
    assert fill_placeholders("{partition}|{ds}|{run_id}|{other}", "a{ds}", "2026-06-02", run_id="x{partition}") == "a{ds}|2026-06-02|x{partition}|{other}"


def test_handoff_stage_builds_the_operator_with_the_partition():
    operator = review_operator()
    assert isinstance(operator, TemporalHandoffOperator)
    assert operator.partition == PipelinePartition("discharge-summaries", "clinical-ai", "ward-a", True)
    assert (operator.pipeline_id, operator.department, operator.tandem_conn_id) == ("discharge-summaries", "clinical-ai", "tandem_default")
    assert operator.retries == 2 and operator.retry_delay.total_seconds() == 60
    assert operator.template_fields == ()
    assert [link.name for link in operator.operator_extra_links] == ["Temporal workflow"]


def test_execute_starts_the_handoff_and_defers_to_the_trigger(api):
    api.starts = [(201, {**state("pending", links={"workflow": "/v1/workflows/x", "temporalUi": "http://temporal.local/wf/x"}), "created": True})]
    ti = FakeTaskInstance(try_number=2)

    with pytest.raises(TaskDeferred) as deferred:
        review_operator().execute(context_for(ti))

    (request,) = api.requests
    assert (request.method, request.path, request.authorization) == ("POST", "/v1/handoffs", f"Bearer {SERVICE_KEY}")
    assert request.body == {
        "workflowType": "review.request",
        "input": {
            "department": "clinical-ai",
            "reviewType": "discharge-summary",
            "title": "Summaries ward-a:2026-06-02",
            "artifact": {"uri": "file:///srv/summaries/ward-a:2026-06-02/2026-06-02", "version": f"{RUN_ID}:ward-a:2026-06-02"},
            "notes": ["tandem__discharge-summaries/ward-a.review", "{{ ds }} stays", "{unknown} stays", 3, None, True],
            "{partition}": "keys are not filled",
            "assignee": "group:reviewers",
            "escalationContact": "chief",
        },
        "department": "clinical-ai",
        "pipelineId": "discharge-summaries",
        "partition": "ward-a:2026-06-02",
        "airflow": {"dagId": "tandem__discharge-summaries", "runId": RUN_ID, "taskId": "ward-a.review", "mapIndex": -1, "tryNumber": 2},
    }
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.trigger.serialize() == HandoffTrigger(HANDOFF_ID).serialize()
    assert ti.pushed == {"handoff_id": HANDOFF_ID, TemporalWorkflowLink().xcom_key: "http://temporal.local/wf/x"}


def test_link_falls_back_to_the_workflow_in_the_control_api(api):
    ti = FakeTaskInstance(map_index=3)
    with pytest.raises(TaskDeferred):
        review_operator().execute(context_for(ti))
    assert api.requests[0].body["airflow"]["mapIndex"] == 3
    assert ti.pushed[TemporalWorkflowLink().xcom_key] == f"{api.url}{state('pending')['links']['workflow']}"


def test_input_failing_the_schema_fails_the_task_at_once_naming_the_path(api):
    api.starts = [
        (
            422,
            {
                "type": "urn:tandem:problem:validation",
                "title": "Request is not valid",
                "status": 422,
                "detail": "input does not match review.request",
                "errors": [{"path": "body.input.artifact.uri", "message": "Invalid URL"}],
            },
        )
    ]
    with pytest.raises(AirflowFailException, match=r"HTTP 422.*input does not match review.request \(body.input.artifact.uri: Invalid URL\)"):
        review_operator().execute(context_for(FakeTaskInstance()))


def test_unknown_workflow_type_fails_the_task_at_once(api):
    api.starts = [(400, {"title": "Bad request", "status": 400, "detail": "unknown workflow type 'review.requset'"})]
    with pytest.raises(AirflowFailException, match="unknown workflow type 'review.requset'"):
        review_operator().execute(context_for(FakeTaskInstance()))


def test_refused_key_fails_the_task_at_once_and_says_to_check_the_connection(api):
    api.starts = [(403, {"title": "Not allowed", "status": 403, "detail": "this key has the role reviewer"})]
    with pytest.raises(AirflowFailException, match=r"HTTP 403.*connection 'tandem_default'.*service-role key"):
        review_operator().execute(context_for(FakeTaskInstance()))


@pytest.fixture
def fast_start_retries(monkeypatch):
    monkeypatch.setattr(TemporalHandoffOperator, "start_backoff_scale", 0.001)


def test_a_restarting_api_is_ridden_out_before_the_start_succeeds(api, fast_start_retries):
    api.starts = [(503, {"title": "Service unavailable", "status": 503})] * 2 + [(201, {**state("pending"), "created": True})]
    with pytest.raises(TaskDeferred):
        review_operator().execute(context_for(FakeTaskInstance()))
    assert [r.method for r in api.requests] == ["POST", "POST", "POST"]


def test_a_failing_api_is_left_to_airflow_retries(api, fast_start_retries):
    api.starts = [(503, {"title": "Service unavailable", "status": 503})]
    with pytest.raises(AirflowException, match="HTTP 503.*Airflow retries this task") as raised:
        review_operator().execute(context_for(FakeTaskInstance()))
    assert not isinstance(raised.value, AirflowFailException)
    assert len(api.requests) == 6


def test_an_unreachable_api_is_left_to_airflow_retries(monkeypatch, fast_start_retries):
    use_connection(monkeypatch, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(AirflowException, match="unreachable.*Airflow retries this task") as raised:
        review_operator().execute(context_for(FakeTaskInstance()))
    assert not isinstance(raised.value, AirflowFailException)


def test_a_start_that_finds_the_run_already_ended_does_not_defer(api):
    api.starts = [(200, {**state("succeeded", result=DECISION), "created": False})]
    assert review_operator().execute(context_for(FakeTaskInstance())) == DECISION

    api.starts = [(200, {**state("expired", reason="no decision within 72 h"), "created": False})]
    with pytest.raises(AirflowException, match=re.escape(f"hand-off {HANDOFF_ID} ended expired: no decision within 72 h")):
        review_operator().execute(context_for(FakeTaskInstance()))


def test_execute_complete_returns_the_result_or_fails_with_the_reason():
    operator = review_operator()
    context = context_for(FakeTaskInstance())
    assert operator.execute_complete(context, state("succeeded", result=DECISION), handoff_id=HANDOFF_ID) == DECISION

    rejected = state("rejected", result={"outcome": "rejected"}, reason='rejected by dr-a: "wrong dose"')
    with pytest.raises(AirflowException) as raised:
        operator.execute_complete(context, rejected, handoff_id=HANDOFF_ID)
    assert str(raised.value) == f'hand-off {HANDOFF_ID} ended rejected: rejected by dr-a: "wrong dose"'
    # A retry of a rejected review is a fresh review: Airflow's retries may apply.
    assert not isinstance(raised.value, AirflowFailException)

    with pytest.raises(AirflowException, match="unknown to the control API"):
        operator.execute_complete(context, {"handoffId": HANDOFF_ID, "status": "error", "reason": f"hand-off {HANDOFF_ID} is unknown to the control API"})


def test_execute_complete_without_a_state_reads_it_from_the_api(api):
    """`dag.test()` resumes the task with a TaskSuccessEvent's bare payload; the result still arrives."""
    ti = FakeTaskInstance()
    ti.pushed["handoff_id"] = HANDOFF_ID
    assert review_operator().execute_complete(context_for(ti), "success") == DECISION
    assert [(r.method, r.path, r.query) for r in api.requests] == [("GET", QUOTED_PATH, {"waitMs": ["0"]})]


# --- a real run --------------------------------------------------------------------------------------


PIPELINE_DAG = '''
import pendulum
from airflow.sdk import DAG, TaskGroup

from tandem_airflow.operators.pipeline_stages import PipelinePartition, handoff_stage, python_stage

with DAG(dag_id="tandem__handoff-run", schedule=None, start_date=pendulum.datetime(2026, 6, 1, tz="UTC"), catchup=False):
    for key in ["ward-a"]:
        with TaskGroup(group_id=key):
            partition = PipelinePartition("handoff-run", "clinical-ai", key, True)
            review = handoff_stage("review", partition, workflow="review.request", input={"title": "Summaries {partition}"}, retries=0, retry_delay_seconds=60)
            publish = python_stage("publish", partition, callable="handoff_downstream:publish", kwargs={"review_task": f"{key}.review"}, retries=0, retry_delay_seconds=60)
            review >> publish
'''

DOWNSTREAM_MODULE = '''
import json
import os

from airflow.sdk import get_current_context


def publish(partition, review_task):
    decision = get_current_context()["ti"].xcom_pull(task_ids=review_task)
    with open(os.environ["HANDOFF_TEST_OUT"], "w") as out:
        json.dump({"partition": partition, "decision": decision}, out)
'''


def test_a_pipeline_defers_then_a_downstream_stage_reads_the_decision(api, tmp_path, monkeypatch):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.db import initdb

    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "tandem__handoff-run.py").write_text(PIPELINE_DAG)
    (tmp_path / "handoff_downstream.py").write_text(DOWNSTREAM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HANDOFF_TEST_OUT", str(tmp_path / "out.json"))
    bag = DagBag(dag_folder=str(tmp_path / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    initdb()
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    api.polls = [(200, state("pending")), (200, state("succeeded", result=DECISION))]

    dag_run = bag.dags["tandem__handoff-run"].test()

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"ward-a.review": "success", "ward-a.publish": "success"}
    start = next(r for r in api.requests if r.method == "POST")
    assert start.body["airflow"]["taskId"] == "ward-a.review" and start.body["airflow"]["tryNumber"] == 1
    assert start.body["partition"].startswith("ward-a:") and start.body["input"] == {"title": f"Summaries {start.body['partition']}"}
    assert [r.query["waitMs"] for r in api.requests if r.method == "GET"][:2] == [["25000"], ["25000"]]
    written = json.loads(Path(tmp_path / "out.json").read_text())
    assert written == {"partition": start.body["partition"], "decision": DECISION}

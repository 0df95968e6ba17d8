"""
``HandoffTrigger`` against a stand-in for the control API's ``/v1/handoffs``: serialize() round
trip; long poll until the workflow ends (success ends the task from the triggerer with the result as
XCom, other outcomes resume it); 404; the API down for a while (refused connections, then 503) →
retries with growing, capped backoff, logged, and nothing lost when it comes back.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import threading

from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from types import SimpleNamespace
from typing import Any

import pytest

from handoff_api import DECISION, HANDOFF_ID, QUOTED_PATH, RUN_ID, SERVICE_KEY, ControlApiStandIn, api, free_port, serve, state, use_connection  # noqa: F401
from tandem_airflow.triggers.handoff import START_ON_WORKER_STATUS, HandoffTrigger


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
        "start": None,
    }


def test_trigger_long_polls_until_success_and_ends_the_task_with_the_result(api):
    api.polls = [(200, state("pending")), (200, state("pending")), (200, state("succeeded", result=DECISION))]

    events = events_of(HandoffTrigger(HANDOFF_ID))

    assert len(events) == 1
    assert isinstance(events[0], TaskSuccessEvent)
    # The result reaches XCom through the control API (Airflow's REST API), not the event.
    assert events[0].xcoms is None
    # The control API writes the result and ends the task through Airflow's REST API at once; the
    # event, passed on at the trigger runner's next loop, then finds no deferred task.
    assert [(r.method, r.path, r.query) for r in api.requests] == [("GET", QUOTED_PATH, {"waitMs": ["25000"]})] * 3 + [
        ("POST", f"{QUOTED_PATH}/complete-task", {})
    ]
    assert {r.authorization for r in api.requests} == {f"Bearer {SERVICE_KEY}"}


@pytest.mark.parametrize(
    "answer",
    [
        (409, {"title": "Conflict", "status": 409, "detail": "the task instance is success in try 1"}),
        (404, {"title": "Not Found", "status": 404, "detail": "Route POST:/v1/handoffs/x/complete-task not found"}),
        (503, {"title": "Airflow is not available", "status": 503}),
    ],
    ids=["task-not-deferred", "older-control-api", "airflow-down"],
)
def test_when_the_api_cannot_end_the_task_the_event_ends_it_with_the_result_written_first(api, answer):
    api.completes = [answer]
    events = events_of(HandoffTrigger(HANDOFF_ID))
    assert [type(e) for e in events] == [TaskSuccessEvent]
    assert [(r.method, r.path) for r in api.requests][-2:] == [("POST", f"{QUOTED_PATH}/complete-task"), ("POST", f"{QUOTED_PATH}/xcom")]


def test_when_the_result_cannot_be_written_as_xcom_the_task_resumes_on_a_worker_with_it(api):
    api.completes = [(503, {"title": "Airflow is not available", "status": 503})]
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




# --- started from the triggerer (start_from_trigger) -----------------------------------------------


class TriggerTaskInstance(SimpleNamespace):
    """What the triggerer gives a trigger of a task started from it: coordinates, context, task."""

    def __init__(self, **fields: Any):
        defaults = {"dag_id": "tandem__discharge-summaries", "run_id": RUN_ID, "task_id": "ward-a.review", "map_index": -1, "try_number": 2, "task": None}
        super().__init__(**{**defaults, **fields})

    def get_template_context(self) -> dict[str, Any]:
        return {"ti": self, "ds": "2026-06-02", "run_id": self.run_id}


PLAIN_START = {
    "workflow_type": "review.request",
    "workflow_input": {"title": "Summaries {partition} {ds}", "artifact": {"version": "{run_id}/{task_id}"}},
    "department": "clinical-ai",
    "pipeline_id": "discharge-summaries",
    "partition": {"key": "ward-a", "by_date": True},
}


@pytest.fixture
def xcoms(monkeypatch) -> dict[str, Any]:
    """XComs the trigger pushes (the triggerer's supervisor channel is not there in tests)."""
    from airflow.sdk.execution_time.xcom import XCom

    pushed: dict[str, Any] = {}

    async def aset(key, value, **where):
        pushed[key] = (value, where)

    monkeypatch.setattr(XCom, "aset", aset)
    return pushed


def trigger_started_from_triggerer(ti: TriggerTaskInstance, start: dict | None = PLAIN_START) -> HandoffTrigger:
    trigger = HandoffTrigger(start=start)
    trigger.task_instance = ti
    return trigger


def test_a_task_started_from_the_triggerer_starts_its_handoff_then_waits_for_it(api, xcoms):
    api.polls = [(200, state("pending")), (200, state("succeeded", result=DECISION))]

    events = events_of(trigger_started_from_triggerer(TriggerTaskInstance()))

    assert [type(e) for e in events] == [TaskSuccessEvent]
    assert [(r.method, r.path) for r in api.requests] == [("POST", "/v1/handoffs"), ("GET", QUOTED_PATH), ("GET", QUOTED_PATH), ("POST", f"{QUOTED_PATH}/complete-task")]
    body = api.requests[0].body
    # The same body the operator's execute sends: coordinates and try from the task instance, the input filled.
    assert body == {
        "workflowType": "review.request",
        "input": {"title": "Summaries ward-a:2026-06-02 2026-06-02", "artifact": {"version": f"{RUN_ID}/ward-a.review"}},
        "department": "clinical-ai",
        "pipelineId": "discharge-summaries",
        "partition": "ward-a:2026-06-02",
        "wait": "triggerer",
        "airflow": {"dagId": "tandem__discharge-summaries", "runId": RUN_ID, "taskId": "ward-a.review", "mapIndex": -1, "tryNumber": 2},
    }
    assert xcoms["handoff_id"][0] == HANDOFF_ID
    assert xcoms["_link_TemporalWorkflowLink"][0] == f"{api.url}{state('pending')['links']['workflow']}"
    assert xcoms["handoff_id"][1] == {"dag_id": "tandem__discharge-summaries", "task_id": "ward-a.review", "run_id": RUN_ID, "map_index": -1}


def test_a_start_that_finds_the_run_ended_reports_it_without_waiting(api, xcoms):
    api.starts = [(200, {**state("rejected", reason="review rejected by dr-a"), "created": False})]
    events = events_of(trigger_started_from_triggerer(TriggerTaskInstance()))
    assert [r.method for r in api.requests] == ["POST"]
    assert [type(e) for e in events] == [TriggerEvent] and events[0].payload["status"] == "rejected"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((422, {"title": "Unprocessable", "status": 422, "errors": [{"path": "input.title", "message": "Required"}]}), "HTTP 422"),
        ((503, {"title": "unavailable", "status": 503}), "HTTP 503"),
    ],
)
def test_a_start_the_api_refuses_or_cannot_serve_is_handed_to_a_worker(api, xcoms, answer, reason):
    api.starts = [answer]
    events = events_of(trigger_started_from_triggerer(TriggerTaskInstance()))
    assert [r.method for r in api.requests] == ["POST"]
    (event,) = events
    assert event.payload["status"] == START_ON_WORKER_STATUS and reason in event.payload["reason"]
    assert xcoms == {}


def test_an_unreachable_api_at_start_is_handed_to_a_worker(monkeypatch, xcoms):
    use_connection(monkeypatch, f"http://127.0.0.1:{free_port()}")
    (event,) = events_of(trigger_started_from_triggerer(TriggerTaskInstance()))
    assert event.payload["status"] == START_ON_WORKER_STATUS and "unreachable" in event.payload["reason"]


class UpstreamOutput(SimpleNamespace):
    """The serialized ``inputs.output`` a mapped task's expand input holds."""


def mapped_task(source: Any, **partial: Any) -> SimpleNamespace:
    return SimpleNamespace(
        partial_kwargs={"department": "clinical-ai", "workflow_type": "review.request", **partial},
        expand_input=SimpleNamespace(value={"workflow_input": source}),
        template_ext=(),
        template_fields=(),
    )


def test_a_mapped_task_starts_with_its_map_index_input_from_the_upstream_xcom(api, xcoms, monkeypatch):
    from airflow.sdk.execution_time.xcom import XCom

    inputs = [{"title": f"review {i}", "artifact": {"version": "{run_id}/" + str(i)}} for i in range(3)]
    reads = []

    async def aget_one(**where):
        reads.append(where)
        return inputs

    monkeypatch.setattr(XCom, "aget_one", aget_one)
    task = mapped_task(UpstreamOutput(operator=SimpleNamespace(task_id="inputs"), key="return_value"))
    ti = TriggerTaskInstance(dag_id="tandem_bench_handoff", task_id="review", map_index=2, try_number=1, task=task)

    events = events_of(trigger_started_from_triggerer(ti, start=None))

    assert [type(e) for e in events] == [TaskSuccessEvent]
    assert reads == [{"key": "return_value", "dag_id": "tandem_bench_handoff", "task_id": "inputs", "run_id": RUN_ID, "map_index": -1}]
    body = api.requests[0].body
    assert body["input"] == {"title": "review 2", "artifact": {"version": f"{RUN_ID}/2"}}
    assert body["airflow"] == {"dagId": "tandem_bench_handoff", "runId": RUN_ID, "taskId": "review", "mapIndex": 2, "tryNumber": 1}
    assert (body["workflowType"], body["department"], body["partition"]) == ("review.request", "clinical-ai", None)


def test_a_mapped_task_over_a_literal_list_starts_with_its_item(api, xcoms):
    ti = TriggerTaskInstance(task_id="review", map_index=1, task=mapped_task([{"title": "a"}, {"title": "b"}]))
    events_of(trigger_started_from_triggerer(ti, start=None))
    assert api.requests[0].body["input"] == {"title": "b"}


@pytest.mark.parametrize(
    ("task", "why"),
    [
        (SimpleNamespace(partial_kwargs={}, expand_input=SimpleNamespace(value={"workflow_input": [{}], "department": ["a"]}), template_ext=(), template_fields=()), "workflow_input alone"),
        (mapped_task([{"title": "a"}], wait="parked"), "parked"),
        (mapped_task([{"title": "a"}, {"title": "b"}][:1]), "map index 1"),
        (mapped_task(object()), "expanded from object"),
    ],
)
def test_a_mapping_the_trigger_cannot_resolve_is_handed_to_a_worker(api, xcoms, task, why):
    ti = TriggerTaskInstance(task_id="review", map_index=1 if why == "map index 1" else 0, task=task)
    (event,) = events_of(trigger_started_from_triggerer(ti, start=None))
    assert event.payload["status"] == START_ON_WORKER_STATUS and why in event.payload["reason"]
    assert api.requests == []

"""
``TemporalHandoffOperator`` against a stand-in for the control API's ``/v1/handoffs``: the start
request (placeholders, Airflow coordinates), deferral, the link, and failures sorted by whether a
retry can help; ``execute_complete``; and a generated-style DAG that really runs (``dag.test()``)
where a downstream stage reads the decision.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from dag_test_db import serialize_for_dag_test
from handoff_api import DECISION, HANDOFF_ID, QUOTED_PATH, RUN_ID, SERVICE_KEY, api, free_port, state, use_connection  # noqa: F401
from tandem_airflow.operators.handoff import TemporalHandoffOperator, TemporalWorkflowLink
from tandem_airflow.operators.pipeline_stages import PipelinePartition, handoff_stage
from tandem_airflow.triggers.handoff import HandoffTrigger


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
        "wait": "triggerer",
        "airflow": {"dagId": "tandem__discharge-summaries", "runId": RUN_ID, "taskId": "ward-a.review", "mapIndex": -1, "tryNumber": 2},
    }
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.trigger.serialize() == HandoffTrigger(HANDOFF_ID).serialize()
    assert ti.pushed == {"handoff_id": HANDOFF_ID, TemporalWorkflowLink().xcom_key: "http://temporal.local/wf/x"}


def test_every_try_starts_from_the_triggerer_with_the_operators_start(api):
    """What the scheduler hands the triggerer: the trigger class and, for a plain task, the start's fields."""
    operator = review_operator()
    assert operator.start_from_trigger is True
    args = operator.start_trigger_args
    assert (args.trigger_cls, args.next_method, args.timeout) == ("tandem_airflow.triggers.handoff.HandoffTrigger", "execute_complete", None)
    # The kwargs rebuild a trigger that starts the same hand-off the operator would (no handoff_id yet).
    trigger = HandoffTrigger(**args.trigger_kwargs)
    assert trigger.handoff_id is None and trigger.start == operator.start_spec()
    assert trigger.start == {
        "workflow_type": "review.request",
        "workflow_input": REVIEW_INPUT,
        "department": "clinical-ai",
        "pipeline_id": "discharge-summaries",
        "partition": {"key": "ward-a", "by_date": True},
    }


def test_the_start_trigger_args_survive_dag_serialization_plain_and_mapped():
    import pendulum
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import BaseSerialization, DagSerialization

    with DAG(dag_id="tandem__sft", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        review_operator()
        TemporalHandoffOperator.partial(task_id="mapped", department="clinical-ai", workflow_type="review.request").expand(
            workflow_input=[{"title": "a"}, {"title": "b"}]
        )
    # What the scheduler and the triggerer read: the DAG as the DAG processor stored it.
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    plain, mapped = restored.get_task("review"), restored.get_task("mapped")
    # Stored encoded, as the scheduler copies them into the trigger row.
    kwargs = BaseSerialization.deserialize(plain.start_trigger_args.trigger_kwargs)
    assert plain.start_from_trigger is True and kwargs == {"tandem_conn_id": "tandem_default", "start": review_operator().start_spec()}
    assert mapped.start_from_trigger is True and BaseSerialization.deserialize(mapped.start_trigger_args.trigger_kwargs) == {}
    assert mapped.partial_kwargs["workflow_type"] == "review.request"


def test_a_start_the_trigger_handed_over_runs_execute_on_the_worker(api):
    ti = FakeTaskInstance(try_number=3)
    with pytest.raises(TaskDeferred) as deferred:
        review_operator().execute_complete(context_for(ti), {"status": "start-on-worker", "reason": "the control API answered HTTP 503"})
    (request,) = api.requests
    assert (request.method, request.path, request.body["airflow"]["tryNumber"]) == ("POST", "/v1/handoffs", 3)
    # This time the trigger only waits: it has the id.
    assert deferred.value.trigger.serialize() == HandoffTrigger(HANDOFF_ID).serialize()


def test_a_refused_start_the_trigger_handed_over_fails_the_task_at_once(api):
    api.starts = [(422, {"title": "Unprocessable", "status": 422, "errors": [{"path": "input.title", "message": "Required"}]})]
    with pytest.raises(AirflowFailException, match=r"input.title: Required"):
        review_operator().execute_complete(context_for(FakeTaskInstance()), {"status": "start-on-worker", "reason": "HTTP 422"})


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
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "tandem__handoff-run.py").write_text(PIPELINE_DAG)
    (tmp_path / "handoff_downstream.py").write_text(DOWNSTREAM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HANDOFF_TEST_OUT", str(tmp_path / "out.json"))
    bag = DagBag(dag_folder=str(tmp_path / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    serialize_for_dag_test(bag)
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

"""
``TemporalHandoffOperator(wait="parked")``: the start says ``wait: parked``, the task writes a
Human-in-the-loop request assigned to tandem's Airflow user and parks in ``awaiting_input``; a
response by tandem resumes it with the workflow's outcome, anyone else's fails it. The last tests
run a real DAG (``dag.test()``) and answer the request through Airflow's own REST handler for
``PATCH …/hitlDetails``, the one tandem calls: the assigned-user check is Airflow's, not a copy.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskAwaitingInput

from dag_test_db import serialize_for_dag_test
from handoff_api import DECISION, HANDOFF_ID, QUOTED_PATH, RUN_ID, api, state  # noqa: F401
from tandem_airflow.operators.handoff import PARKED_OPTION, TemporalHandoffOperator
from tandem_airflow.operators.pipeline_stages import PipelinePartition, handoff_stage

TANDEM = {"id": "tandem", "name": "tandem"}


class ParkingTaskInstance(SimpleNamespace):
    def __init__(self, **fields: Any):
        defaults = {"dag_id": "tandem__discharge-summaries", "run_id": RUN_ID, "task_id": "ward-a.review", "map_index": -1, "try_number": 1, "id": "0193-ti"}
        super().__init__(**{**defaults, **fields})
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def parked_operator() -> TemporalHandoffOperator:
    return handoff_stage(
        "review",
        PipelinePartition("discharge-summaries", "clinical-ai", "ward-a", True),
        workflow="review.request",
        input={"title": "Summaries {partition}"},
        retries=1,
        retry_delay_seconds=60,
        wait="parked",
    )


def context_for(ti: ParkingTaskInstance) -> dict[str, Any]:
    return {"ti": ti, "task_instance": ti, "ds": "2026-06-02", "run_id": ti.run_id}


@pytest.fixture
def hitl_requests(monkeypatch):
    written: list[dict[str, Any]] = []
    import airflow.sdk.execution_time.hitl as hitl

    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **request: written.append(request))
    return written


def test_a_parked_handoff_starts_on_a_worker_and_the_trigger_never_sees_it():
    operator = parked_operator()
    assert operator.wait == "parked" and operator.start_from_trigger is False
    assert handoff_stage("x", PipelinePartition("p", "d", None, False), workflow="llm.complete", input={}, retries=0, retry_delay_seconds=1).start_from_trigger is True
    with pytest.raises(ValueError, match="wait must be"):
        TemporalHandoffOperator(task_id="x", workflow_type="review.request", workflow_input={}, department="d", wait="later")


def test_parking_writes_a_request_only_tandem_may_answer_then_awaits_input(api, hitl_requests):
    api.starts = [(201, {**state("pending"), "created": True, "resumer": TANDEM})]
    ti = ParkingTaskInstance(try_number=2)

    with pytest.raises(TaskAwaitingInput) as parked:
        parked_operator().execute(context_for(ti))

    (start,) = api.requests
    assert start.body["wait"] == "parked" and start.body["airflow"]["tryNumber"] == 2
    (request,) = hitl_requests
    assert request["ti_id"] == "0193-ti" and request["options"] == [PARKED_OPTION]
    assert request["assigned_users"] == [TANDEM] and HANDOFF_ID in request["subject"]
    assert parked.value.method_name == "execute_complete"
    assert parked.value.kwargs == {"handoff_id": HANDOFF_ID, "resumer": TANDEM}
    assert ti.pushed["handoff_id"] == HANDOFF_ID


def test_without_a_resumer_the_task_does_not_park_where_nobody_could_resume_it(api, hitl_requests):
    api.starts = [(201, {**state("pending"), "created": True})]
    with pytest.raises(AirflowException, match="named no Airflow user"):
        parked_operator().execute(context_for(ParkingTaskInstance()))
    assert hitl_requests == []


def resume_event(user: dict[str, str] | None) -> dict[str, Any]:
    return {"chosen_options": [PARKED_OPTION], "params_input": {}, "responded_at": None, "responded_by_user": user, "timedout": False}


def test_tandems_resume_reads_the_outcome_waiting_for_the_close(api):
    api.polls = [(200, state("pending")), (200, state("succeeded", result=DECISION))]
    result = parked_operator().execute_complete(context_for(ParkingTaskInstance()), resume_event(TANDEM), handoff_id=HANDOFF_ID, resumer=TANDEM)
    assert result == DECISION
    assert [(r.path, r.query["waitMs"]) for r in api.requests] == [(QUOTED_PATH, ["25000"])] * 2

    api.polls = [(200, state("rejected", reason='review rejected by dr-a: "wrong dose"'))]
    with pytest.raises(AirflowException, match="ended rejected: review rejected by dr-a") as raised:
        parked_operator().execute_complete(context_for(ParkingTaskInstance()), resume_event(TANDEM), handoff_id=HANDOFF_ID, resumer=TANDEM)
    assert not isinstance(raised.value, AirflowFailException)


def test_a_resume_while_the_workflow_still_runs_is_left_to_a_retry(api):
    api.polls = [(200, state("pending"))]
    with pytest.raises(AirflowException, match="still running") as raised:
        parked_operator().execute_complete(context_for(ParkingTaskInstance()), resume_event(TANDEM), handoff_id=HANDOFF_ID, resumer=TANDEM)
    assert not isinstance(raised.value, AirflowFailException) and len(api.requests) == 3


@pytest.mark.parametrize(("user", "named"), [({"id": "admin", "name": "admin"}, "Airflow user 'admin'"), (None, "Airflow itself \\(a timeout\\)")])
def test_anyone_elses_response_fails_the_task_without_asking_the_api(api, user, named):
    with pytest.raises(AirflowFailException, match=f"answered by {named}, not by tandem \\('tandem'\\): only tandem resumes"):
        parked_operator().execute_complete(context_for(ParkingTaskInstance()), resume_event(user), handoff_id=HANDOFF_ID, resumer=TANDEM)
    assert api.requests == []


# --- a real run: dag.test() parks, Airflow's REST handler answers ------------------------------------


PIPELINE_DAG = '''
import pendulum
from airflow.sdk import DAG, TaskGroup

from tandem_airflow.operators.pipeline_stages import PipelinePartition, handoff_stage, python_stage

with DAG(dag_id="tandem__parked-run", schedule=None, start_date=pendulum.datetime(2026, 6, 1, tz="UTC"), catchup=False):
    with TaskGroup(group_id="ward-a"):
        partition = PipelinePartition("parked-run", "clinical-ai", "ward-a", False)
        review = handoff_stage("review", partition, workflow="review.request", input={"title": "Summaries {partition}"}, retries=0, retry_delay_seconds=60, wait="parked")
        publish = python_stage("publish", partition, callable="parked_downstream:publish", kwargs={}, retries=0, retry_delay_seconds=60)
        review >> publish
'''

DOWNSTREAM_MODULE = '''
import json
import os

from airflow.sdk import get_current_context


def publish(partition):
    with open(os.environ["PARKED_TEST_OUT"], "w") as out:
        json.dump(get_current_context()["ti"].xcom_pull(task_ids="ward-a.review"), out)
'''


def respond_through_airflow(dag_id: str, run_id: str, task_id: str, user_id: str) -> Any:
    """``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails`` as ``user_id``, by Airflow's handler."""
    from airflow.api_fastapi.app import create_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.settings import Session

    create_auth_manager()
    session = Session()
    try:
        answer = update_hitl_detail(
            dag_id=dag_id,
            dag_run_id=run_id,
            task_id=task_id,
            update_hitl_detail_payload=UpdateHITLDetailPayload(chosen_options=[PARKED_OPTION]),
            user=SimpleAuthManagerUser(username=user_id, role="admin"),
            session=session,
            map_index=-1,
        )
        session.commit()
        return answer
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def task_state(dag_id: str, task_id: str, run_id: str) -> str | None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.settings import Session

    with Session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id, run_id=run_id).one_or_none()
        return None if ti is None else ti.state


def run_ids_of(dag_id: str) -> set[str]:
    """The DAG's runs so far (the tests share one metadata DB and one DAG id)."""
    from airflow.models.dagrun import DagRun
    from airflow.settings import Session

    with Session() as session:
        return {run.run_id for run in session.query(DagRun).filter_by(dag_id=dag_id)}


def wait_for_state(dag_id: str, task_id: str, wanted: str, timeout: float = 90.0, *, not_in: frozenset[str] = frozenset()) -> str:
    """The run id of the (one) task instance, of a run not in ``not_in``, that reaches ``wanted``."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.settings import Session

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Session() as session:
            for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id, state=wanted):
                if ti.run_id not in not_in:
                    return ti.run_id
        time.sleep(0.2)
    raise AssertionError(f"{task_id} never reached {wanted}")


def fail_parked(dag_id: str, task_id: str, not_in: frozenset[str]) -> None:
    """Ends a parked task the background could not answer, so ``dag.test()`` returns and the test fails instead of hanging."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.settings import Session

    with Session() as session:
        for ti in session.query(TaskInstance).filter_by(dag_id=dag_id, task_id=task_id, state="awaiting_input"):
            if ti.run_id not in not_in:
                ti.state = "failed"
        session.commit()


@pytest.fixture
def parked_dag(api, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "tandem__parked-run.py").write_text(PIPELINE_DAG)
    (tmp_path / "parked_downstream.py").write_text(DOWNSTREAM_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PARKED_TEST_OUT", str(tmp_path / "out.json"))
    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    bag = DagBag(dag_folder=str(tmp_path / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    serialize_for_dag_test(bag)
    api.starts = [(201, {**state("pending"), "created": True, "resumer": TANDEM})]
    api.polls = [(200, state("succeeded", result=DECISION))]
    return bag.dags["tandem__parked-run"]


class WaitingForInput(logging.Handler):
    """
    Set once ``dag.test()`` logs that it waits for Human-in-the-loop input. Answering before that
    races dag.test() itself: after the task parks, its loop writes the state the task ended in
    (``ti.set_state(awaiting_input)``) over whatever the database holds, so an answer landing in
    between is recorded but its resume is undone, and the run waits forever. The scheduler has no
    such step; only dag.test() does.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Waiting for Human-in-the-loop input"):
            self.event.set()


@pytest.fixture
def dag_test_waits():
    """The event of ``WaitingForInput`` on dag.test()'s logger, for this test only."""
    logger = logging.getLogger("airflow.sdk.definitions.dag")
    handler, level = WaitingForInput(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.event
    logger.removeHandler(handler)
    logger.setLevel(level)


def answer_in_background(dag_id: str, waiting: threading.Event, *users: str) -> dict[str, Any]:
    """
    Once the review task parks and dag.test() waits for its input, answers the request as each
    user in turn (the task runner needs the main thread, so dag.test() runs there); what each
    answer did lands in the returned dict.
    """
    seen: dict[str, Any] = {"answers": []}
    # Runs of earlier tests are not this one's (a parked task one of them left must not be answered).
    earlier = frozenset(run_ids_of(dag_id))

    def answer() -> None:
        try:
            run_id = wait_for_state(dag_id, "ward-a.review", "awaiting_input", not_in=earlier)
            if not waiting.wait(60):
                raise AssertionError("dag.test() never said it waits for Human-in-the-loop input")
            seen["requests_when_parked"] = [(r.method, (r.body or {}).get("wait")) for r in seen["api"].requests]
            for user in users:
                try:
                    seen["answers"].append((user, respond_through_airflow(dag_id, run_id, "ward-a.review", user).responded_by.model_dump()))
                except Exception as err:
                    seen["answers"].append((user, getattr(err, "status_code", err)))
                seen.setdefault("state_after", []).append(task_state(dag_id, "ward-a.review", run_id))
        except BaseException as err:
            seen["error"] = err
            fail_parked(dag_id, "ward-a.review", earlier)

    seen["thread"] = threading.Thread(target=answer, daemon=True)
    return seen


def test_a_parked_task_holds_nothing_until_tandem_answers_then_downstream_reads_the_result(parked_dag, api, tmp_path, dag_test_waits):
    background = answer_in_background(parked_dag.dag_id, dag_test_waits, "admin", "tandem")
    background["api"] = api
    background["thread"].start()

    dag_run = parked_dag.test()

    background["thread"].join(30)
    assert "error" not in background, background.get("error")
    # Parked after the start alone: nothing polls while it waits.
    assert background["requests_when_parked"] == [("POST", "parked")]
    # The human admin may not answer (Airflow refuses a user the request is not assigned to), and
    # the task stays parked; tandem's answer resumes it.
    assert background["answers"] == [("admin", 403), ("tandem", TANDEM)]
    assert background["state_after"][0] == "awaiting_input"
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"ward-a.review": "success", "ward-a.publish": "success"}
    assert json.loads(Path(tmp_path / "out.json").read_text()) == DECISION


def test_where_airflow_lets_anyone_answer_the_task_fails_saying_who(parked_dag, api, monkeypatch, dag_test_waits):
    # simple_auth_manager_all_admins: Airflow's own check lets every user through.
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    background = answer_in_background(parked_dag.dag_id, dag_test_waits, "admin")
    background["api"] = api
    background["thread"].start()

    dag_run = parked_dag.test()

    background["thread"].join(30)
    assert "error" not in background, background.get("error")
    assert background["answers"] == [("admin", {"id": "admin", "name": "admin"})]
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states["ward-a.review"] == "failed" and states["ward-a.publish"] == "upstream_failed"
    # Only the start reached the hand-off API (then the partition's failure report): a foreign
    # answer never reads the outcome.
    assert [(r.method, r.path) for r in api.requests if r.path.startswith("/v1/handoffs")] == [("POST", "/v1/handoffs")]

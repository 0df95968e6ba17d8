"""
DAGs of ``npm run bench -- handoff`` (bench/handoff.ts copies this file into the stack's DAG folder).
Each waits for ``n`` review hand-offs (``n`` from the run conf), four ways:

- ``tandem_bench_handoff``: tandem's deferrable ``TemporalHandoffOperator``, mapped over ``n``
  inputs: every try starts from the triggerer (``start_from_trigger``), which starts the hand-off
  and waits; no task process, no worker slot.
- ``tandem_bench_handoff_worker_start``: the same operator as it was before ``start_from_trigger``
  (the baseline of the time to put ``n`` hand-offs into their wait): each try first runs
  ``execute`` in a task process on a worker, which starts the hand-off and defers.
- ``tandem_bench_handoff_parked``: the same operator with ``wait="parked"`` (a review's default):
  each try starts on a worker, writes a Human-in-the-loop request for tandem's Airflow user and
  parks in ``awaiting_input`` — no trigger; tandem resumes it when the workflow closes.
- ``tandem_bench_sensor``: the usual alternative — a sensor in ``reschedule`` mode poking the same
  hand-off every 60 s (Airflow's default poke interval); between pokes it holds no slot either,
  but it notices the end up to a minute late.
- ``tandem_bench_polling``: the anti-pattern — a task that starts the hand-off and polls it in a
  loop, holding a worker slot for as long as the review waits.

All three start the same workflow through ``POST /v1/handoffs`` with their task coordinates.
"""

from __future__ import annotations

import time

import pendulum
from airflow.sdk import DAG, BaseSensorOperator, get_current_context
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.exceptions import AirflowFailException

from tandem_airflow.hooks.tandem_api import TandemApiHook
from tandem_airflow.operators.handoff import TemporalHandoffOperator, handoff_start_request

DEPARTMENT = "clinical-ai"
REVIEW = {
    "department": DEPARTMENT,
    "reviewType": "bench",
    "title": "Benchmark review",
    "assignee": "group:reviewers",
    "escalationContact": "bench-chief",
}


def review_inputs() -> list[dict]:
    """One review input per map index; the artifact version names the run and the index."""
    context = get_current_context()
    n = int((context["dag_run"].conf or {}).get("n", 10))
    run_id = context["dag_run"].run_id
    return [{**REVIEW, "artifact": {"uri": f"bench://{i}", "version": f"{run_id}/{i}"}} for i in range(n)]


def start_or_attach(workflow_input: dict) -> dict:
    body = handoff_start_request(get_current_context(), workflow_type="review.request", workflow_input=workflow_input, department=DEPARTMENT)
    return TandemApiHook().start_handoff(body)


def check(state: dict) -> bool:
    if state["status"] == "pending":
        return False
    if state["status"] != "succeeded":
        raise AirflowFailException(f"hand-off {state['handoffId']} ended {state['status']}: {state.get('reason')}")
    return True


class HandoffPollingSensor(BaseSensorOperator):
    """Pokes the hand-off (starting it on the first poke; later pokes attach to it)."""

    def __init__(self, *, workflow_input: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.workflow_input = workflow_input

    def poke(self, context) -> bool:
        return check(start_or_attach(self.workflow_input))


def wait_by_polling(workflow_input: dict) -> dict:
    state = start_or_attach(workflow_input)
    hook = TandemApiHook()
    while not check(state):
        time.sleep(5)
        state = hook.get_handoff(state["handoffId"])
    return state.get("result")


common = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False, "tags": ["tandem-bench"]}

with DAG(dag_id="tandem_bench_handoff", **common):
    inputs = PythonOperator(task_id="inputs", python_callable=review_inputs)
    TemporalHandoffOperator.partial(task_id="review", department=DEPARTMENT, workflow_type="review.request").expand(workflow_input=inputs.output)

with DAG(dag_id="tandem_bench_handoff_parked", **common):
    inputs = PythonOperator(task_id="inputs", python_callable=review_inputs)
    TemporalHandoffOperator.partial(task_id="review", department=DEPARTMENT, workflow_type="review.request", wait="parked").expand(
        workflow_input=inputs.output
    )

class WorkerStartHandoffOperator(TemporalHandoffOperator):
    """The operator as it was: every try runs ``execute`` in a task process (a class attribute; ``partial`` takes no such argument)."""

    start_from_trigger = False


with DAG(dag_id="tandem_bench_handoff_worker_start", **common):
    inputs = PythonOperator(task_id="inputs", python_callable=review_inputs)
    WorkerStartHandoffOperator.partial(task_id="review", department=DEPARTMENT, workflow_type="review.request").expand(workflow_input=inputs.output)

with DAG(dag_id="tandem_bench_sensor", **common):
    inputs = PythonOperator(task_id="inputs", python_callable=review_inputs)
    HandoffPollingSensor.partial(task_id="review", mode="reschedule", poke_interval=60, timeout=3600).expand(workflow_input=inputs.output)

with DAG(dag_id="tandem_bench_polling", **common):
    inputs = PythonOperator(task_id="inputs", python_callable=review_inputs)
    PythonOperator.partial(task_id="review", python_callable=wait_by_polling).expand(op_args=inputs.output.map(lambda i: [i]))

"""
Airflow → Temporal hand-off: the deferrable operator behind a pipeline's ``handoff`` stage.

``execute`` asks the control API (``POST /v1/handoffs``, service key from the ``tandem_default``
connection) to start the stage's durable workflow for this task instance and defers to
``HandoffTrigger``, which waits in the triggerer: the task holds no worker slot for the minutes or
days the workflow runs. The API derives the workflow id from the task instance
(``handoff:<dag_id>:<run_id>:<task_id>:<map_index>``) and decides from ``tryNumber`` whether this
attempt attaches to the running workflow or starts a fresh one, so a retried, resumed or
duplicated ``execute`` never starts a second workflow beside the first.

When the workflow succeeds the trigger ends the task itself with the workflow result as its
``return_value`` XCom; any other outcome resumes the task in ``execute_complete``, which fails it
with the workflow's reason.

Failures at start are sorted by what a retry could change: a spec the API rejects (unknown
workflow type, input failing the type's schema) or a key it refuses fails the task at once
(``AirflowFailException``: retrying cannot help and would only hammer the API); an unreachable or
failing API raises a plain exception so the stage's own retries apply.

User strings in ``workflow_input`` are never Jinja templates (see ``pipeline_stages``); only
``{partition}``, ``{ds}``, ``{run_id}``, ``{dag_id}`` and ``{task_id}`` are replaced, by plain text
replacement. ``{ds}`` is ``utils.context.run_date``, the same date the partition's source check
fills into its source paths.

**Two ways to wait** (``wait``). ``triggerer`` (short hand-offs: an LLM call): the task defers to
``HandoffTrigger``, which long-polls the API and ends the task from the triggerer. ``parked`` (long
ones: a review that may wait days): the task starts on a worker, writes a Human-in-the-loop request
assigned to tandem's own Airflow user (the ``resumer`` the start answered) and parks in Airflow's
``awaiting_input`` state (``TaskAwaitingInput``) — no worker slot, no trigger, nothing polling.
When the workflow closes, tandem answers that request through Airflow's REST API, which resumes
the task in ``execute_complete``; it reads the outcome from the API. A response by anyone else
(Airflow refuses it unless it lets every user act as admin) fails the task with a reason that says
so: only tandem resumes a parked hand-off.

Every HTTP call goes through ``TandemApiHook``; this module decides only what an answer means for
the task.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskAwaitingInput

from tandem_airflow.hooks.tandem_api import HandoffResumer, HandoffState, TandemApiHook, TandemApiStatusError, TandemApiUnreachable
from airflow.triggers.base import StartTriggerArgs

from tandem_airflow.triggers.handoff import (
    ERROR_STATUS,
    HANDOFF_ID_XCOM_KEY,
    START_ON_WORKER_STATUS,
    HandoffEventPayload,
    HandoffStartSpec,
    HandoffTrigger,
)
from tandem_airflow.utils.handoff_request import handoff_start_request
from tandem_airflow.utils.partition import PipelinePartition

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

#: How a hand-off task waits for its workflow (see the module docstring).
HandoffWait = Literal["triggerer", "parked"]
#: The one option of a parked task's Human-in-the-loop request: tandem chooses it when the workflow closes.
PARKED_OPTION = "workflow closed"
#: How long ``execute_complete`` waits for the workflow to close after a resume: tandem may answer
#: just before the close (it answers from the workflow's last step).
RESUME_WAIT_MS = 25_000
RESUME_POLLS = 3

#: Where the trigger of a task started from the triggerer comes from (``serialize()``'s classpath).
HANDOFF_TRIGGER_CLASSPATH = f"{HandoffTrigger.__module__}.{HandoffTrigger.__qualname__}"


class TemporalWorkflowLink(BaseOperatorLink):
    """
    "Temporal workflow" button on the task: the URL the start answer gave, kept in XCom under this
    link's key. Airflow 3's API server reads that XCom by key, so no plugin has to register the link.
    """

    name = "Temporal workflow"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return XCom.get_value(ti_key=ti_key, key=self.xcom_key) or ""


class TemporalHandoffOperator(BaseOperator):
    """
    Runs a durable Temporal workflow for this task instance through tandem's control API and waits
    for it deferred; the workflow's result becomes the task's ``return_value`` XCom.

    :param workflow_type: public workflow type, e.g. ``review.request``.
    :param workflow_input: the workflow's input; placeholders in its strings are replaced.
    :param department: the department the hand-off runs and is audited under.
    :param pipeline_id: the pipeline it belongs to, if any.
    :param partition: the partition this task serves (its label fills ``{partition}``).
    :param tandem_conn_id: Airflow connection with the control API's URL and service key.
    :param wait: ``triggerer`` (deferred, ended by the triggerer) or ``parked`` (``awaiting_input``,
        resumed by tandem through Airflow's REST API); the pipeline generator resolves ``auto``.
    """

    # User strings are never templates: nothing of this operator is rendered by Jinja.
    template_fields = ()
    template_ext = ()
    operator_extra_links = (TemporalWorkflowLink(),)
    ui_color = "#e8defc"
    #: Multiplies the start's retry delays; tests set it near 0.
    start_backoff_scale = 1.0
    # Every try goes straight from the scheduler to HandoffTrigger, which starts the hand-off
    # itself: no task process. The class attributes serve mapped tasks (Airflow does not run
    # __init__ for them at parse time); the trigger reads their fields from the serialized task.
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(trigger_cls=HANDOFF_TRIGGER_CLASSPATH, next_method="execute_complete", trigger_kwargs={})

    def __init__(
        self,
        *,
        workflow_type: str,
        workflow_input: Mapping[str, Any],
        department: str,
        pipeline_id: str | None = None,
        partition: PipelinePartition | None = None,
        tandem_conn_id: str = TandemApiHook.default_conn_name,
        wait: HandoffWait = "triggerer",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if wait not in ("triggerer", "parked"):
            raise ValueError(f"wait must be 'triggerer' or 'parked', not {wait!r}")
        self.wait = wait
        # A parked task starts on a worker: parking is the task runner's transition, not a trigger's.
        self.start_from_trigger = wait == "triggerer"
        self.workflow_type = workflow_type
        self.workflow_input = copy.deepcopy(dict(workflow_input))
        self.department = department
        self.pipeline_id = pipeline_id
        self.partition = partition
        self.tandem_conn_id = tandem_conn_id
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=HANDOFF_TRIGGER_CLASSPATH,
            next_method="execute_complete",
            trigger_kwargs={"tandem_conn_id": tandem_conn_id, "start": self.start_spec()},
        )

    def start_spec(self) -> HandoffStartSpec:
        """This task's start as the trigger gets it when the task starts from the triggerer."""
        partition = self.partition
        return {
            "workflow_type": self.workflow_type,
            "workflow_input": copy.deepcopy(self.workflow_input),
            "department": self.department,
            "pipeline_id": self.pipeline_id,
            "partition": {"key": partition.key, "by_date": partition.by_date} if partition is not None else None,
        }

    # --- start --------------------------------------------------------------------------------

    def start_request(self, context: Context) -> dict[str, Any]:
        """The ``POST /v1/handoffs`` body for this task instance."""
        return handoff_start_request(
            context,
            workflow_type=self.workflow_type,
            workflow_input=self.workflow_input,
            department=self.department,
            pipeline_id=self.pipeline_id,
            partition=self.partition,
            wait=self.wait,
        )

    def execute(self, context: Context) -> Any:
        hook = TandemApiHook(tandem_conn_id=self.tandem_conn_id)
        state = self._start(hook, self.start_request(context))
        handoff_id = state["handoffId"]

        ti = context["ti"]
        ti.xcom_push(key=HANDOFF_ID_XCOM_KEY, value=handoff_id)
        link = self._workflow_link(state, hook)
        if link:
            ti.xcom_push(key=TemporalWorkflowLink().xcom_key, value=link)
        self.log.info(
            "hand-off %s: %s %s workflow (run %s)%s",
            handoff_id,
            "started" if state.get("created") else "attached to the existing",
            self.workflow_type,
            state.get("runId"),
            f"; {link}" if link else "",
        )
        if state.get("status") != "pending":
            # A duplicate start of a run that already ended: nothing to wait for.
            return self._outcome(state)
        if self.wait == "parked":
            self._park(context, state)
        self.defer(
            trigger=HandoffTrigger(handoff_id=handoff_id, tandem_conn_id=self.tandem_conn_id),
            method_name="execute_complete",
            kwargs={"handoff_id": handoff_id},
        )

    def _park(self, context: Context, state: HandoffState) -> None:
        """
        Parks the task in ``awaiting_input``: a Human-in-the-loop request only tandem's Airflow user
        may answer, then ``TaskAwaitingInput``. Airflow resumes the task in ``execute_complete`` when
        tandem answers (a response that lands before the park resumes it at once).
        """
        from airflow.sdk.execution_time.hitl import upsert_hitl_detail

        handoff_id = state["handoffId"]
        resumer = state.get("resumer")
        if not resumer or not resumer.get("id"):
            raise AirflowException(
                f"hand-off {handoff_id}: the control API named no Airflow user to resume the parked task "
                "(it runs without an Airflow client); Airflow retries this task"
            )
        upsert_hitl_detail(
            ti_id=context["task_instance"].id,
            options=[PARKED_OPTION],
            subject=f"Waiting for tandem hand-off {handoff_id}",
            body=(
                f"This task waits for its {self.workflow_type} workflow in tandem. tandem resumes it the moment "
                f"the workflow closes; only tandem's Airflow user ({resumer['id']}) may respond here."
            ),
            params={},
            assigned_users=[{"id": resumer["id"], "name": resumer.get("name") or resumer["id"]}],
        )
        self.log.info("hand-off %s: parked in awaiting_input until tandem (%s) resumes it", handoff_id, resumer["id"])
        raise TaskAwaitingInput(method_name="execute_complete", kwargs={"handoff_id": handoff_id, "resumer": dict(resumer)})

    def _start(self, hook: TandemApiHook, body: dict[str, Any]) -> HandoffState:
        """
        The hook's start (which rides out about 30 s of a restarting API), its failures sorted by
        whether a retry can help: a rejected spec or a refused key fails the task at once.
        """
        try:
            return hook.start_handoff(body, backoff_scale=self.start_backoff_scale)
        except TandemApiUnreachable as err:
            raise AirflowException(
                f"hand-off start: the control API at {err.base_url} is unreachable ({err.cause}); "
                f"Airflow retries this task ({self.retries} retries configured)"
            ) from err
        except TandemApiStatusError as err:
            raise self._start_failure(err) from err

    def _start_failure(self, err: TandemApiStatusError) -> AirflowException:
        status = err.status
        what = f"hand-off start for {self.workflow_type!r}"
        if status in (400, 422):
            return AirflowFailException(f"{what} rejected by the control API (HTTP {status}): {err.problem}")
        if status in (401, 403):
            return AirflowFailException(
                f"{what}: the control API refused the service key (HTTP {status}: {err.problem}); "
                f"check the key (password) of the Airflow connection {self.tandem_conn_id!r}: it must be a "
                f"service-role key allowed for department {self.department!r}"
            )
        return AirflowException(
            f"{what} failed: the control API answered HTTP {status} ({err.problem}); "
            f"Airflow retries this task ({self.retries} retries configured)"
        )

    @staticmethod
    def _workflow_link(state: Mapping[str, Any], hook: TandemApiHook) -> str | None:
        links = state.get("links") or {}
        if links.get("temporalUi"):
            return str(links["temporalUi"])
        workflow = links.get("workflow")
        if not workflow:
            return None
        return str(workflow) if "://" in str(workflow) else hook.url(str(workflow))

    # --- completion ---------------------------------------------------------------------------

    def execute_complete(
        self,
        context: Context,
        event: HandoffEventPayload | Any = None,
        handoff_id: str | None = None,
        resumer: HandoffResumer | None = None,
    ) -> Any:
        """Resumed by the trigger or, parked, by tandem: return the result (XCom ``return_value``) or fail with the reason."""
        if isinstance(event, Mapping) and "chosen_options" in event:
            return self._resumed_from_park(event, handoff_id, resumer)
        if isinstance(event, Mapping) and event.get("status") == START_ON_WORKER_STATUS:
            # The trigger of a task started from the triggerer could not start it: start here.
            self.log.info("hand-off start handed over by the triggerer (%s); starting on this worker", event.get("reason"))
            return self.execute(context)
        if not isinstance(event, Mapping):
            # `dag.test()` runs triggers in line and, instead of ending the task on a
            # TaskSuccessEvent, resumes it with the event's bare payload (and without our kwargs):
            # read the outcome from the API then.
            ti = context["ti"]
            handoff_id = handoff_id or ti.xcom_pull(task_ids=ti.task_id, key=HANDOFF_ID_XCOM_KEY, map_indexes=ti.map_index)
            event = self._current_state(handoff_id)
        return self._outcome(event)

    def _resumed_from_park(self, event: Mapping[str, Any], handoff_id: str | None, resumer: HandoffResumer | None) -> Any:
        """
        A parked task's Human-in-the-loop request was answered. Only tandem's answer counts: anyone
        else's (Airflow lets it through only when every user is an admin) fails the task, without
        retries, and the reconciler then cancels the workflow nothing waits for any more.
        """
        responder = event.get("responded_by_user") or {}
        expected = (resumer or {}).get("id")
        if not expected or responder.get("id") != expected:
            who = f"Airflow user {responder.get('id')!r}" if responder.get("id") else "Airflow itself (a timeout)"
            raise AirflowFailException(
                f"parked hand-off {handoff_id} was answered by {who}, not by tandem ({expected!r}): only tandem resumes "
                "a parked hand-off, when its workflow closes; the task fails and the workflow is cancelled"
            )
        hook = TandemApiHook(tandem_conn_id=self.tandem_conn_id)
        for _ in range(RESUME_POLLS):
            try:
                state = hook.get_handoff(handoff_id, wait_ms=RESUME_WAIT_MS)
            except TandemApiUnreachable as err:
                raise AirflowException(f"hand-off {handoff_id}: the control API at {err.base_url} is unreachable ({err.cause})") from err
            except TandemApiStatusError as err:
                raise AirflowException(f"hand-off {handoff_id}: the control API answered HTTP {err.status} ({err.problem})") from err
            if state.get("status") != "pending":
                self.log.info("hand-off %s: resumed by tandem; workflow ended %s", handoff_id, state.get("status"))
                return self._outcome(state)
        # Resumed, but the workflow still runs: a retry attaches to it and parks again.
        raise AirflowException(f"hand-off {handoff_id}: resumed by tandem but its workflow is still running; Airflow retries this task")

    def _current_state(self, handoff_id: str) -> HandoffState:
        try:
            return TandemApiHook(tandem_conn_id=self.tandem_conn_id).get_handoff(handoff_id)
        except TandemApiStatusError as err:
            raise AirflowException(f"hand-off {handoff_id}: the control API answered HTTP {err.status} ({err.problem})") from err

    def _outcome(self, state: HandoffEventPayload) -> Any:
        handoff_id = state.get("handoffId")
        status = state.get("status")
        if status == "succeeded":
            self.log.info("hand-off %s: workflow succeeded", handoff_id)
            return state.get("result")
        if status == ERROR_STATUS:
            raise AirflowException(state.get("reason") or f"hand-off {handoff_id} failed")
        # Rejected, expired and cancelled hand-offs fail like a failed workflow, with a plain
        # AirflowException: the stage's retries decide. A retry starts a fresh workflow (a fresh
        # review of the artifact), which is what a spec asks for when it gives a review retries;
        # AirflowFailException would take that choice away from it.
        raise AirflowException(f"hand-off {handoff_id} ended {status}: {state.get('reason') or 'no reason given'}")

"""
The trigger a deferred ``TemporalHandoffOperator`` waits on: it long-polls the control API
(``GET /v1/handoffs/{id}?waitMs=``) until the hand-off's workflow ends, in the triggerer's event
loop, so the waiting task holds no worker slot.

On success it has the control API write the workflow result as the task's ``return_value`` XCom
and mark the task ``success`` through Airflow's REST API (``POST /v1/handoffs/{id}/complete-task``),
then yields a ``TaskSuccessEvent``, which then finds no deferred task and does nothing. The event
alone would end the task too, but Airflow's trigger runner passes events on once per loop of 1 s,
so the REST call ends it up to a second sooner; when the call fails the event ends the task, with
the result written as XCom first. Resuming a task on a worker instead would cost a task process
start, seconds. Every other outcome is a plain
``TriggerEvent`` whose payload is the hand-off's state, so ``execute_complete`` fails the task
with the workflow's reason through Airflow's normal failure path (retries, callbacks).

While the control API is down (restart, deploy, network) the trigger keeps the task deferred and
retries with exponential backoff, forever: the workflow keeps running in Temporal, and the first
poll that gets through reports its outcome, however long ago it ended.

**Started from the triggerer.** ``TemporalHandoffOperator`` sets ``start_from_trigger``: the
scheduler defers a new try straight to this trigger, with no task process, and the trigger starts
the hand-off itself (``POST /v1/handoffs``) before it waits — starting a task process costs seconds
and one of the executor's few slots, while the start is one small request. It takes the task's
coordinates and try number from its task instance and the start's fields from its ``start``
kwargs (a plain task) or, for a mapped task, from the task's partial kwargs and the map index's
``workflow_input``. Whatever it cannot do there — a start the API refuses or cannot answer, an
input it cannot resolve — it hands to a worker (``START_ON_WORKER_STATUS``), where
``execute_complete`` runs the operator's own ``execute``: the first start from the triggerer is an
optimisation, never a second set of rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, NotRequired, TypedDict

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from tandem_airflow.hooks.tandem_api import (
    AsyncTandemApiSession,
    HandoffState,
    TandemApiHook,
    TandemApiStatusError,
    TandemApiUnreachable,
    handoff_path,
)
from tandem_airflow.utils.handoff_request import handoff_start_request
from tandem_airflow.utils.partition import PipelinePartition

#: How long one poll waits for an outcome on the API side; below the API's cap (30 s).
DEFAULT_WAIT_MS = 25_000
#: Added to ``waitMs`` for the HTTP timeout: an answer slower than that is a hung connection.
REQUEST_SLACK_SECONDS = 15.0
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 30.0

#: ``status`` of the events the trigger makes up itself (the API's statuses are the others).
ERROR_STATUS: Literal["error"] = "error"
#: The trigger could not start the hand-off itself: a worker runs the operator's ``execute``.
START_ON_WORKER_STATUS: Literal["start-on-worker"] = "start-on-worker"
#: XCom keys the operator's ``execute`` pushes, pushed by the trigger when it starts the hand-off.
HANDOFF_ID_XCOM_KEY = "handoff_id"
WORKFLOW_LINK_XCOM_KEY = "_link_TemporalWorkflowLink"


class HandoffStartSpec(TypedDict):
    """What a plain task's trigger needs to start its hand-off (the operator's own arguments)."""

    workflow_type: str
    workflow_input: dict[str, Any]
    department: str
    pipeline_id: str | None
    #: ``PipelinePartition`` as JSON: ``{"key": …, "by_date": …}``, or None.
    partition: NotRequired[dict[str, Any] | None]


class HandoffStartOnWorkerPayload(TypedDict):
    """Payload of the event that hands the start to a worker, with why."""

    status: Literal["start-on-worker"]
    reason: str


class HandoffErrorPayload(TypedDict):
    """Payload of the event for an answer that is no hand-off state (unknown hand-off, refused key …)."""

    handoffId: str
    status: Literal["error"]
    reason: str


#: What ``execute_complete`` receives in a ``TriggerEvent``: the hand-off's final state as the API
#: answered it (any status but ``pending``; ``succeeded`` when the XCom write failed or
#: ``end_from_trigger`` is off), an error the trigger made up, or the start handed to a worker.
HandoffEventPayload = HandoffState | HandoffErrorPayload | HandoffStartOnWorkerPayload


class StartOnWorker(Exception):
    """The trigger cannot start this hand-off itself; the message says why."""


class HandoffTrigger(BaseTrigger):
    """
    Waits for a hand-off to end.

    :param handoff_id: the hand-off (and Temporal workflow) id the start answered.
    :param tandem_conn_id: Airflow connection with the control API's URL and service key.
    :param wait_ms: how long each long poll asks the API to wait.
    :param backoff_base_seconds: first retry delay while the API is unreachable (doubles, capped).
    :param backoff_max_seconds: longest retry delay.
    :param end_from_trigger: on success, end the task here with the result as XCom instead of
        resuming it on a worker.
    :param start: when ``handoff_id`` is None (the task started from the triggerer), the fields of
        the start of a plain task; None for a mapped task, whose fields come from its task.
    """

    def __init__(
        self,
        handoff_id: str | None = None,
        tandem_conn_id: str = TandemApiHook.default_conn_name,
        wait_ms: int = DEFAULT_WAIT_MS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_max_seconds: float = DEFAULT_BACKOFF_MAX_SECONDS,
        end_from_trigger: bool = True,
        start: HandoffStartSpec | None = None,
    ) -> None:
        super().__init__()
        self.handoff_id = handoff_id
        self.tandem_conn_id = tandem_conn_id
        self.wait_ms = wait_ms
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.end_from_trigger = end_from_trigger
        self.start = start

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "handoff_id": self.handoff_id,
                "tandem_conn_id": self.tandem_conn_id,
                "wait_ms": self.wait_ms,
                "backoff_base_seconds": self.backoff_base_seconds,
                "backoff_max_seconds": self.backoff_max_seconds,
                "end_from_trigger": self.end_from_trigger,
                "start": self.start,
            },
        )

    def hook(self) -> TandemApiHook:
        return TandemApiHook(tandem_conn_id=self.tandem_conn_id, timeout=self.wait_ms / 1000 + REQUEST_SLACK_SECONDS)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with self.hook().async_session() as api:
            if self.handoff_id is None:
                try:
                    started = await self._start_here(api)
                except StartOnWorker as why:
                    self.log.info("hand-off start from the triggerer handed to a worker: %s", why)
                    yield TriggerEvent(HandoffStartOnWorkerPayload(status=START_ON_WORKER_STATUS, reason=str(why)))
                    return
                if started.get("status") != "pending":
                    # A duplicate start of a run that already ended: nothing to wait for.
                    yield await self._event(api, started)
                    return
            self.log.info("hand-off %s: deferred, waiting for its workflow (long poll GET %s)", self.handoff_id, handoff_path(self.handoff_id))
            while True:
                try:
                    state = await api.wait_for_handoff(
                        self.handoff_id,
                        wait_ms=self.wait_ms,
                        backoff_base_seconds=self.backoff_base_seconds,
                        backoff_max_seconds=self.backoff_max_seconds,
                        log=self.log,
                    )
                except TandemApiStatusError as err:
                    yield TriggerEvent(self._error(self._reason_for(err)))
                    return
                if state.get("status") == "pending":
                    continue
                yield await self._event(api, state)
                return

    # --- start from the triggerer --------------------------------------------------------------

    async def _start_here(self, api: AsyncTandemApiSession) -> HandoffState:
        """
        Starts (or attaches to) the hand-off of this trigger's task instance, one attempt; records
        its id for the wait and pushes the XComs ``execute`` would have pushed.

        :raises StartOnWorker: anything the worker's ``execute`` should do instead.
        """
        ti = getattr(self, "task_instance", None)
        if ti is None or not hasattr(ti, "get_template_context"):
            raise StartOnWorker("the triggerer gave this trigger no task instance to start from")
        try:
            context = ti.get_template_context()
            spec = self.start if self.start is not None else await _mapped_start_spec(ti)
            body = handoff_start_request(context, **_start_arguments(spec))
        except StartOnWorker:
            raise
        except Exception as err:  # a context or input this code does not know: the worker does
            raise StartOnWorker(f"could not build the start request ({type(err).__name__}: {err})") from err
        try:
            state = await api.start_handoff(body)
        except TandemApiUnreachable as err:
            raise StartOnWorker(f"the control API is unreachable ({err.cause})") from err
        except TandemApiStatusError as err:
            raise StartOnWorker(f"the control API answered HTTP {err.status} ({err.problem})") from err
        self.handoff_id = state["handoffId"]
        self.log.info(
            "hand-off %s: %s %s workflow from the triggerer (run %s, try %s)",
            self.handoff_id,
            "started" if state.get("created") else "attached to the existing",
            body["workflowType"],
            state.get("runId"),
            body["airflow"]["tryNumber"],
        )
        await self._push_start_xcoms(ti, state, api)
        return state

    async def _push_start_xcoms(self, ti: Any, state: HandoffState, api: AsyncTandemApiSession) -> None:
        """The hand-off id and the Temporal link, as ``execute`` pushes them; best effort (people read them)."""
        from airflow.sdk.execution_time.xcom import XCom

        links = state.get("links") or {}
        link = links.get("temporalUi") or (api.hook.url(links["workflow"]) if links.get("workflow") else None)
        where = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index}
        try:
            await XCom.aset(HANDOFF_ID_XCOM_KEY, state["handoffId"], **where)
            if link:
                await XCom.aset(WORKFLOW_LINK_XCOM_KEY, link, **where)
        except Exception as err:  # the wait does not depend on them
            self.log.warning("hand-off %s: could not push its id and link as XCom (%s)", self.handoff_id, err)

    def _reason_for(self, err: TandemApiStatusError) -> str:
        if err.status == 404:
            return f"hand-off {self.handoff_id} is unknown to the control API"
        if err.status in (401, 403):
            return (
                f"the control API refused the service key (HTTP {err.status}) while waiting for hand-off "
                f"{self.handoff_id}; check the key in the Airflow connection {self.tandem_conn_id!r}"
            )
        return f"the control API answered HTTP {err.status} for hand-off {self.handoff_id}: {err.text}"

    def _error(self, reason: str) -> HandoffErrorPayload:
        return {"handoffId": self.handoff_id, "status": ERROR_STATUS, "reason": reason}

    async def _event(self, api: AsyncTandemApiSession, state: HandoffState) -> TriggerEvent:
        status = state.get("status")
        if status == "succeeded" and self.end_from_trigger:
            if await self._complete_task(api):
                self.log.info("hand-off %s: workflow succeeded; its task ended through Airflow's REST API", self.handoff_id)
                return TaskSuccessEvent()
            if await self._publish_result(api):
                self.log.info("hand-off %s: workflow succeeded; ending the task from the triggerer", self.handoff_id)
                # The result is already the task's return_value XCom (written by the control API).
                return TaskSuccessEvent()
        self.log.info("hand-off %s: workflow ended %s; resuming the task", self.handoff_id, status)
        payload: HandoffEventPayload = state
        return TriggerEvent(payload)

    async def _complete_task(self, api: AsyncTandemApiSession) -> bool:
        """Has the control API end the task now (result XCom, then ``success``); False leaves it to the event."""
        try:
            await api.complete_handoff_task(self.handoff_id)
        except TandemApiUnreachable as err:
            self.log.warning("hand-off %s: could not have the task ended through the REST API (%s)", self.handoff_id, err.cause)
            return False
        except TandemApiStatusError as err:
            self.log.info(
                "hand-off %s: ending the task through the REST API answered HTTP %s (%s); ending it with the event",
                self.handoff_id,
                err.status,
                err.problem,
            )
            return False
        return True

    async def _publish_result(self, api: AsyncTandemApiSession) -> bool:
        """
        Has the control API write the result as the task's ``return_value`` XCom through Airflow's
        REST API. Not ``TaskSuccessEvent(xcoms=…)``: Airflow 3.3 stores those JSON-encoded twice,
        so ``xcom_pull`` would hand downstream tasks a string instead of the result. When the write
        fails the task resumes on a worker instead, where ``execute_complete`` returns the result.
        """
        try:
            await api.publish_handoff_result(self.handoff_id)
        except TandemApiUnreachable as err:
            self.log.warning(
                "hand-off %s: could not have the result written as XCom (%s); resuming on a worker", self.handoff_id, err.cause
            )
            return False
        except TandemApiStatusError as err:
            self.log.warning(
                "hand-off %s: writing the result as XCom answered HTTP %s; resuming on a worker", self.handoff_id, err.status
            )
            return False
        return True


def _start_arguments(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``handoff_start_request`` keyword arguments from a ``HandoffStartSpec``."""
    partition = spec.get("partition")
    return {
        "workflow_type": spec["workflow_type"],
        "workflow_input": spec["workflow_input"],
        "department": spec["department"],
        "pipeline_id": spec.get("pipeline_id"),
        "partition": PipelinePartition(spec.get("pipeline_id") or "", spec["department"], partition.get("key"), bool(partition.get("by_date")))
        if partition
        else None,
    }


async def _mapped_start_spec(ti: Any) -> HandoffStartSpec:
    """
    The start of one map index of a mapped ``TemporalHandoffOperator``, read from the serialized
    task the triggerer has: the partial kwargs, and ``workflow_input`` expanded from a literal list
    or from an upstream task's list XCom (``.expand(workflow_input=inputs.output)``). Any other shape
    of mapping is left to the worker, which unmaps the task the usual way.
    """
    from airflow.sdk.execution_time.xcom import XCom

    task = getattr(ti, "task", None)
    partial = dict(getattr(task, "partial_kwargs", None) or {})
    expand = getattr(getattr(task, "expand_input", None), "value", None)
    if not isinstance(expand, Mapping) or set(expand) != {"workflow_input"}:
        raise StartOnWorker("only a task mapped over workflow_input alone starts from the triggerer")
    if partial.get("wait", "triggerer") != "triggerer" or partial.get("partition") is not None:
        raise StartOnWorker("a parked or partitioned mapped hand-off starts on a worker")
    source = expand["workflow_input"]
    if isinstance(source, (list, tuple)):
        inputs = source
    elif hasattr(source, "operator") and hasattr(source, "key"):
        inputs = await XCom.aget_one(key=source.key, dag_id=ti.dag_id, task_id=source.operator.task_id, run_id=ti.run_id, map_index=-1)
    else:
        raise StartOnWorker(f"workflow_input is expanded from {type(source).__name__}")
    if not isinstance(inputs, (list, tuple)) or not 0 <= ti.map_index < len(inputs) or not isinstance(inputs[ti.map_index], Mapping):
        raise StartOnWorker(f"map index {ti.map_index} has no workflow_input mapping in the expanded list")
    return {
        "workflow_type": partial["workflow_type"],
        "workflow_input": dict(inputs[ti.map_index]),
        "department": partial["department"],
        "pipeline_id": partial.get("pipeline_id"),
        "partition": None,
    }

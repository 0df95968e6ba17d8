"""
The ``POST /v1/handoffs`` body of a task instance: one function, used by the hand-off operator on a
worker and by the hand-off trigger when the task starts straight from the triggerer
(``start_from_trigger``), so both starts send the same coordinates and the same filled input.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tandem_airflow.utils.context import run_date
from tandem_airflow.utils.partition import PipelinePartition
from tandem_airflow.utils.placeholders import fill_structure


def handoff_start_request(
    context: Mapping[str, Any],
    *,
    workflow_type: str,
    workflow_input: Mapping[str, Any],
    department: str,
    pipeline_id: str | None = None,
    partition: PipelinePartition | None = None,
    wait: str = "triggerer",
) -> dict[str, Any]:
    """
    The ``POST /v1/handoffs`` body for the task instance running in ``context``: its coordinates
    and try number, and the input with ``{partition}``, ``{ds}``, ``{run_id}``, ``{dag_id}`` and
    ``{task_id}`` filled in (plain replacement, never Jinja).
    """
    ti = context["ti"]
    map_index = -1 if ti.map_index is None else ti.map_index
    day = run_date(context)
    label = partition.label_on(day) if partition is not None else None
    values = {"partition": label, "ds": day, "run_id": ti.run_id, "dag_id": ti.dag_id, "task_id": ti.task_id}
    return {
        "workflowType": workflow_type,
        "input": fill_structure(workflow_input, values),
        "department": department,
        "pipelineId": pipeline_id,
        "partition": label,
        "wait": wait,
        "airflow": {
            "dagId": ti.dag_id,
            "runId": ti.run_id,
            "taskId": ti.task_id,
            "mapIndex": map_index,
            "tryNumber": ti.try_number,
        },
    }

"""
Skip unchanged sources, per partition: the two callables every generated pipeline DAG runs around
a partition's stages.

``check_partition_sources`` fingerprints each of the partition's sources (``utils/sources.py``),
asks the control API whether anything changed since the partition's last *successful* run, and
skips the partition (``AirflowSkipException``, reason in the task log) when nothing did.
``commit_partition_fingerprints`` runs after the partition's stages (trigger rule ``all_success``)
and commits what was checked, so a partition that failed keeps its old fingerprints and runs again
next time.

Deviation from the written contract, on purpose: besides the check task's XCom, the control API
keeps the checked fingerprints as *pending* for the run, and ``commit_partition_fingerprints``
falls back to those when it cannot find the check task's XCom — so the commit does not depend on
how the generator names the check task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException

from tandem_airflow.hooks.tandem_api import TandemApiHook
from tandem_airflow.utils.context import run_conf, run_date, run_id
from tandem_airflow.utils.sources import (
    SourceUnreadableError,
    fingerprint_source,
    source_kind,
    source_name,
    validate_sources,
)

log = logging.getLogger(__name__)


def _committed_value(committed: Mapping[str, Any], name: str, kind: str) -> Mapping[str, Any] | None:
    entry = committed.get(name)
    if not entry or entry.get("kind") != kind:
        return None
    return entry.get("value")


def check_partition_sources(
    pipeline_id: str,
    partition: str,
    sources: list[dict],
    force: bool = False,
    *,
    hook: TandemApiHook | None = None,
    **context: Any,
) -> dict:
    """
    Fingerprint the partition's sources; skip the partition when none changed (unless forced).
    ``{ds}`` in them is ``run_date``: the date a hand-off input of the same run gets, also for a
    run without a logical date (then Airflow's ``ds`` is missing and ``run_after`` decides).
    ``hook``: the run's source check passes one for all its partitions, so the connection is read
    once (each read is a round trip through the task's supervisor to Airflow's API server).
    """
    validate_sources(sources)
    force = bool(force or run_conf(context).get("force"))
    ds = run_date(context)
    hook = hook or TandemApiHook()
    committed = hook.committed_fingerprints(pipeline_id, partition)

    fingerprints: dict[str, dict[str, Any]] = {}
    for source in sources:
        name = source_name(source)
        kind = source_kind(source)
        try:
            fingerprints[name] = fingerprint_source(source, partition, ds, _committed_value(committed, name, kind))
        except Exception as err:
            raise SourceUnreadableError(
                f"partition {partition!r}: source {name!r} ({kind}) cannot be read: {err}"
            ) from err
        hashed = fingerprints[name]["value"].get("hashed")
        how = " (content hashed)" if hashed else " (size and mtime unchanged)" if hashed is False else ""
        log.info("source %s: %s%s", name, fingerprints[name]["identity"], how)

    answer = hook.check_fingerprints(pipeline_id, partition, run_id(context), force, fingerprints)
    reasons = "; ".join(answer.get("reasons") or []) or "no reason given"
    if not answer.get("changed"):
        message = f"partition {partition!r} skipped: {reasons}"
        log.info(message)
        raise AirflowSkipException(message)
    log.info("partition %r runs: %s", partition, reasons)
    return {"partition": partition, "fingerprints": fingerprints}


def _check_task_ids(context: Mapping[str, Any]) -> list[str]:
    """Upstream tasks (transitively) that check this partition's sources."""
    task = context.get("task")
    dag = getattr(task, "dag", None) or context.get("dag")
    if task is None or dag is None:
        return []
    found, seen, queue = [], set(), list(task.upstream_task_ids)
    while queue:
        task_id = queue.pop()
        if task_id in seen:
            continue
        seen.add(task_id)
        upstream = dag.get_task(task_id)
        # Generated DAGs run one `check_sources` for the run (operators/source_check.py), which
        # calls this function per partition; a hand-written DAG may call it directly, per partition.
        if task_id.rpartition(".")[2] == "check_sources" or getattr(upstream, "python_callable", None) is check_partition_sources:
            found.append(task_id)
        queue.extend(upstream.upstream_task_ids)
    return found


def _pulled_fingerprints(context: Mapping[str, Any], partition: str) -> dict[str, dict[str, Any]] | None:
    ti = context.get("ti")
    if ti is None:
        return None
    for task_id in _check_task_ids(context):
        kwargs: dict[str, Any] = {"task_ids": task_id}
        if getattr(ti, "map_index", -1) is not None and getattr(ti, "map_index", -1) >= 0:
            kwargs["map_indexes"] = ti.map_index
        pulled = ti.xcom_pull(**kwargs)
        for item in pulled if isinstance(pulled, list) else [pulled]:
            if isinstance(item, Mapping) and item.get("partition") == partition:
                return dict(item["fingerprints"])
    return None


def commit_partition_fingerprints(pipeline_id: str, partition: str, **context: Any) -> None:
    """After the partition's stages succeeded: make the checked fingerprints the committed ones."""
    fingerprints = _pulled_fingerprints(context, partition)
    answer = TandemApiHook().commit_fingerprints(pipeline_id, partition, run_id(context), fingerprints)
    log.info("partition %r: committed %s source fingerprint(s)", partition, answer.get("committed", "?"))

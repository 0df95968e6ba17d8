"""
What tandem's tasks read from Airflow's task context, each computed by exactly one function here so
that two parts of the same task never disagree (the run date of a source path and of a hand-off
input, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_date(context: Mapping[str, Any]) -> str | None:
    """
    The run's date, ``YYYY-MM-DD``: the logical date (Airflow's ``ds``) or, for a run triggered
    without one (Airflow 3 allows it; the context then has no ``ds`` and no data interval), the
    date of its ``run_after``. The only source of ``{ds}`` and of a date partition's label.

    None only outside a DAG run (a context without ``ds`` and without ``dag_run``, as a direct call
    from a script or test has).
    """
    ds = context.get("ds")
    if ds:
        return str(ds)
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None) if dag_run is not None else None
    return run_after.date().isoformat() if run_after is not None else None


def run_id(context: Mapping[str, Any]) -> str:
    """The DAG run's id (``manual`` outside a DAG run)."""
    value = context.get("run_id")
    if not value and context.get("dag_run") is not None:
        value = context["dag_run"].run_id
    return str(value or "manual")


def run_conf(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The DAG run's conf (empty when there is none)."""
    dag_run = context.get("dag_run")
    conf = getattr(dag_run, "conf", None) if dag_run is not None else None
    return conf if isinstance(conf, Mapping) else {}

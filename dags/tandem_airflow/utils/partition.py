"""One partition of a pipeline, as a generated DAG binds it to each of the partition's tasks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tandem_airflow.utils.context import run_date


@dataclass(frozen=True)
class PipelinePartition:
    """One partition of a pipeline as the generated DAG knows it at parse time."""

    pipeline_id: str
    department: str
    #: The partition key (``partitions.keys``), or None when the pipeline is not keyed.
    key: str | None
    #: Whether the run's date is part of the partition (``partitions.date``).
    by_date: bool

    def label(self, context: Mapping[str, Any]) -> str:
        """
        The partition's name in the fingerprint store and the API: ``key``, ``YYYY-MM-DD``,
        ``key:YYYY-MM-DD`` when both, or ``all`` for an unpartitioned pipeline.
        """
        return self.label_on(run_date(context))

    def label_on(self, day: str | None) -> str:
        """``label`` for a run date already read from the context (``run_date``)."""
        day = day if self.by_date else None
        if self.key is not None and day is not None:
            return f"{self.key}:{day}"
        return self.key or day or "all"

    def env(self, context: Mapping[str, Any]) -> dict[str, str]:
        """What a bash stage sees of its partition."""
        day = run_date(context)
        env = {
            "TANDEM_PIPELINE_ID": self.pipeline_id,
            "TANDEM_DEPARTMENT": self.department,
            "TANDEM_PARTITION": self.label_on(day),
        }
        if self.key is not None:
            env["TANDEM_PARTITION_KEY"] = self.key
        if self.by_date:
            env["TANDEM_PARTITION_DATE"] = str(day)
        return env

"""
The ``evaluation`` stage: a quality gate that fails the partition (so its fingerprints are not
committed and it runs again next time) when the score is below ``min_score``.

For now ``suite`` names a Python callable, ``package.module:function``, that runs the golden
queries and returns a score in [0, 1] (or a dict with a ``"score"`` key and any metrics). It is
called with ``partition=`` and the task context. A suite registry behind the control API can
replace this without changing the generated DAGs: they only pass ``suite`` and ``min_score``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)

_CALLABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def run_evaluation(
    *,
    pipeline_id: str,
    department: str,
    stage_id: str,
    partition: str,
    suite: str,
    min_score: float,
    **context: Any,
) -> dict[str, Any]:
    if not _CALLABLE.match(suite):
        raise AirflowFailException(
            f"evaluation stage {stage_id}: suite {suite!r} must name a callable as package.module:function"
        )
    module_name, _, attribute = suite.partition(":")
    function = getattr(importlib.import_module(module_name), attribute)
    result = function(partition=partition, **context)
    metrics = dict(result) if isinstance(result, Mapping) else {"score": result}
    score = float(metrics["score"])
    log.info("evaluation %s of %s partition %s: score %.3f (minimum %.3f)", suite, pipeline_id, partition, score, min_score)
    if score < min_score:
        # Not retried: the same index scores the same; a new run after a fix re-evaluates.
        raise AirflowFailException(
            f"evaluation {suite} scored {score:.3f} < {min_score:.3f} for {pipeline_id} partition {partition}; "
            "promotion blocked and fingerprints not committed"
        )
    return {**metrics, "department": department, "stage": stage_id, "partition": partition, "minScore": min_score}

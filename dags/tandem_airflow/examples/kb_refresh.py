"""
Stages of the example knowledge-base refresh (examples/kb-refresh): per department partition,
``build_index`` turns the department's Markdown documents into a small keyword index, and
``golden_queries`` (the evaluation suite) checks that each document is found by its own title.

A file ``<data_dir>/_fail/<partition>`` makes ``build_index`` fail on purpose: it lies outside the
partition's sources, so the tests (and a curious user) can fail a stage without changing what the
fingerprints see.

When a ``kb.refresh`` workflow triggered the run (conf ``alias`` and ``newVersion``),
``build_index`` also publishes the partition's index as
``$TANDEM_STATE_DIR/kb-index/<alias>/<newVersion>/<partition>.json``, where the worker's evaluation
(``publishedIndexRetrievals`` in services/worker/activities/evaluation.ts) answers the golden
queries against it before the alias may switch to that version.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from airflow.sdk import get_current_context

log = logging.getLogger(__name__)

WORD = re.compile(r"[a-z0-9]+")
_UNSAFE_IN_SEGMENT = re.compile(r"[^A-Za-z0-9._-]")


def _segment(value: str) -> str:
    """One safe path segment (aliases contain ``:``): the rule of ``segment()`` in evaluation.ts."""
    return _UNSAFE_IN_SEGMENT.sub("_", value)


def _write_atomically(target: Path, text: str) -> None:
    """Readers (the evaluation stage, the worker) see the old file or the new one, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def _index_file(data_dir: str, partition: str) -> Path:
    return Path(data_dir) / "_index" / f"{partition}.json"


def build_index(partition: str, data_dir: str) -> dict[str, Any]:
    failure_marker = Path(data_dir) / "_fail" / partition
    if failure_marker.exists():
        raise RuntimeError(f"build_index of {partition} fails on purpose: {failure_marker} exists (remove it to recover)")
    documents = sorted((Path(data_dir) / partition).glob("*.md"))
    if not documents:
        raise FileNotFoundError(f"no documents for {partition} in {Path(data_dir) / partition}")
    index: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for doc in documents:
        text = doc.read_text(encoding="utf-8")
        titles[doc.name] = text.splitlines()[0].lstrip("# ").strip() if text else doc.stem
        for word in set(WORD.findall(text.lower())):
            index.setdefault(word, []).append(doc.name)
    target = _index_file(data_dir, partition)
    text = json.dumps({"index": index, "titles": titles}, sort_keys=True)
    _write_atomically(target, text)
    built: dict[str, Any] = {"partition": partition, "documents": len(documents), "index": str(target)}
    published = _publish_for_evaluation(partition, text)
    if published:
        built["published"] = published
    return built


def _refresh_target() -> tuple[str, str] | None:
    """``(alias, newVersion)`` from the run conf when a kb.refresh workflow triggered the run."""
    try:
        context = get_current_context()
    except RuntimeError:
        return None  # called outside an Airflow task (a script, a unit test): no run, no conf
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    alias, version = conf.get("alias"), conf.get("newVersion")
    if isinstance(alias, str) and alias and isinstance(version, str) and version:
        return alias, version
    return None


def _publish_for_evaluation(partition: str, text: str) -> str | None:
    target = _refresh_target()
    if target is None:
        return None
    alias, version = target
    state_dir = os.environ.get("TANDEM_STATE_DIR")
    if not state_dir:
        log.info("not publishing %s's index for %s version %s: TANDEM_STATE_DIR is not set", partition, alias, version)
        return None
    published = Path(state_dir) / "kb-index" / _segment(alias) / _segment(version) / f"{_segment(partition)}.json"
    _write_atomically(published, text)
    log.info("published %s's index for %s version %s: %s", partition, alias, version, published)
    return str(published)


def _search(index: dict[str, list[str]], query: str) -> list[str]:
    # rankByQueryWords in services/worker/activities/evaluation.ts ranks exactly like this (most
    # query words first, ties by name), so the worker's evaluation of a published index agrees
    # with this stage's: change both or neither.
    scores: dict[str, int] = {}
    for word in WORD.findall(query.lower()):
        for doc in index.get(word, []):
            scores[doc] = scores.get(doc, 0) + 1
    return sorted(scores, key=lambda d: (-scores[d], d))


def golden_queries(partition: str, **context: Any) -> dict[str, Any]:
    """Recall@3 of "find each document by its title" over the index ``build_index`` wrote."""
    ti = context["ti"]
    group = ti.task_id.rpartition(".")[0]
    built = ti.xcom_pull(task_ids=f"{group}.build_index" if group else "build_index")
    data = json.loads(Path(built["index"]).read_text())
    titles: dict[str, str] = data["titles"]
    hits = sum(1 for doc, title in titles.items() if doc in _search(data["index"], title)[:3])
    return {"score": hits / len(titles), "queries": len(titles), "hits": hits}

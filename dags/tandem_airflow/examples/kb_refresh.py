"""
Stages of the example knowledge-base refresh (examples/kb-refresh): per department partition,
``build_index`` turns the department's Markdown documents into a small keyword index, and
``golden_queries`` (the evaluation suite) checks that each document is found by its own title.

A file ``<data_dir>/_fail/<partition>`` makes ``build_index`` fail on purpose: it lies outside the
partition's sources, so the tests (and a curious user) can fail a stage without changing what the
fingerprints see.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

WORD = re.compile(r"[a-z0-9]+")


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"index": index, "titles": titles}, sort_keys=True))
    os.replace(tmp, target)
    return {"partition": partition, "documents": len(documents), "index": str(target)}


def _search(index: dict[str, list[str]], query: str) -> list[str]:
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

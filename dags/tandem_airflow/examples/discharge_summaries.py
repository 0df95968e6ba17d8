"""
Stages of the example discharge-summaries pipeline (examples/discharge-summaries): per ward
partition, ``draft_summaries`` turns the ward's notes into one Markdown draft; a physician reviews
it through the ``physician_review`` hand-off stage (a ``review.request`` workflow); ``publish``
reads the review's result from that stage's XCom and publishes the draft with the decision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow.sdk import get_current_context


def draft_summaries(partition: str, data_dir: str) -> dict[str, Any]:
    notes = sorted((Path(data_dir) / partition).glob("*.txt"))
    if not notes:
        raise FileNotFoundError(f"no notes for {partition} in {Path(data_dir) / partition}")
    lines = [f"# Discharge summaries: {partition}", ""]
    for note in notes:
        lines.append(f"## {note.stem}")
        lines.append(note.read_text(encoding="utf-8").strip())
        lines.append("")
    draft = Path(data_dir) / "_drafts" / f"{partition}.md"
    draft.parent.mkdir(parents=True, exist_ok=True)
    draft.write_text("\n".join(lines), encoding="utf-8")
    return {"draft": str(draft), "notes": len(notes)}


def publish(partition: str, data_dir: str, review_stage: str) -> dict[str, Any]:
    context = get_current_context()
    # Stages of a keyed partition live in its task group: "<group>.<stage id>".
    group, _, _ = context["task"].task_id.rpartition(".")
    review_task = f"{group}.{review_stage}" if group else review_stage
    review = context["ti"].xcom_pull(task_ids=review_task)
    if not isinstance(review, dict) or review.get("outcome") != "approved":
        raise RuntimeError(f"{review_task} did not hand back an approved review: {review!r}")
    published = {
        "partition": partition,
        "draft": str(Path(data_dir) / "_drafts" / f"{partition}.md"),
        "approvedBy": review["decidedBy"],
        "artifactVersion": review["artifactVersion"],
        "decidedAt": review["decidedAt"],
    }
    target = Path(data_dir) / "_published" / f"{partition}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(published, indent=2), encoding="utf-8")
    return published

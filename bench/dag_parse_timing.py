"""
Airflow parse time of DAG files, for `npm run bench -- pipelines-generate`.

    python dag_parse_timing.py <output.json> <samples> <cold_samples> <name>=<file> ...

For each named file, interleaved so machine drift hits all alike:

- warm: ``DagBag.process_file`` in this process, after one discarded warm-up parse per file (what a
  long-lived parser pays once every module the file imports is loaded);
- cold: the first parse in a fresh Python process that has Airflow's SDK imported already, like a
  dag-processor child (what a parser pays for the file and its own imports).

Every parse must yield exactly one DAG and no import error, else the timing means nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

COLD = """
import sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # noqa: F401  (a dag-processor has it loaded before any file)
from airflow.sdk import DAG  # noqa: F401
bag = DagBag(dag_folder=sys.argv[2], safe_mode=False)
t0 = time.perf_counter()
dags = bag.process_file(sys.argv[1], only_if_updated=False, safe_mode=False)
elapsed = time.perf_counter() - t0
assert len(dags) == 1 and not bag.import_errors, (dags, bag.import_errors)
print(elapsed * 1000)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    output, samples, cold_samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    files = dict(arg.split("=", 1) for arg in sys.argv[4:])
    from airflow.dag_processing.dagbag import DagBag

    empty = tempfile.mkdtemp(prefix="tandem-bench-empty-")
    bag = DagBag(dag_folder=empty, safe_mode=False)
    tasks = {}
    warm: dict[str, list[float]] = {name: [] for name in files}
    for name, path in files.items():  # warm-up, discarded
        dags = bag.process_file(path, only_if_updated=False, safe_mode=False)
        assert len(dags) == 1 and not bag.import_errors, (name, bag.import_errors)
        tasks[name] = len(dags[0].tasks)
    for _ in range(samples):
        for name, path in files.items():
            t0 = time.perf_counter()
            bag.process_file(path, only_if_updated=False, safe_mode=False)
            warm[name].append((time.perf_counter() - t0) * 1000)

    cold: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(cold_samples):
        for name, path in files.items():
            out = subprocess.run(
                [sys.executable, "-c", COLD, path, empty], check=True, capture_output=True, text=True, env=os.environ
            )
            cold[name].append(float(out.stdout.strip().splitlines()[-1]))

    report = {
        name: {
            "tasks": tasks[name],
            "warm_p50_ms": percentile(warm[name], 0.5),
            "warm_p95_ms": percentile(warm[name], 0.95),
            "cold_p50_ms": percentile(cold[name], 0.5) if cold[name] else None,
            "warm_samples": len(warm[name]),
            "cold_samples": len(cold[name]),
        }
        for name in files
    }
    with open(output, "w") as f:
        json.dump(report, f)


main()

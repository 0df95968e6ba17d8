#!/bin/sh
# Benchmark-only dependencies, kept out of .venv: dag-factory (the baseline of the
# pipelines-generate benchmark) registers an Airflow plugin that every Airflow process would load.
set -eu
cd "$(dirname "$0")/.."
target=.tandem-bench-deps
if [ ! -d "$target/dagfactory" ]; then
  printf '[bench] installing dag-factory 1.1.0 into %s (benchmark baseline only)…\n' "$target"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --target "$target" dag-factory==1.1.0
fi

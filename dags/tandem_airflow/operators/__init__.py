"""
Operators that tandem's generated DAGs use.

- ``partition``: the source-fingerprint check, which asks the control API whether a partition's
  sources changed since its last successful run and skips the partition when they did not, and
  the commit that follows the partition's stages;
- ``evaluation``: the evaluation stage's quality gate;
- ``handoff``: the deferrable ``TemporalHandoffOperator``, which starts (idempotently) the Temporal
  workflow of a ``handoff`` stage through the control API and defers to its trigger, holding no
  worker slot while the workflow runs.
"""

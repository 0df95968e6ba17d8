"""
Operators that tandem's generated DAGs use.

Coming next:

- the deferrable hand-off operator, which starts (idempotently) the Temporal workflow for a
  ``handoff`` stage through the control API and defers to its trigger, holding no worker slot;
- the source-fingerprint task, which asks the control API whether a partition's sources changed
  since its last successful run and skips the partition when they did not.
"""

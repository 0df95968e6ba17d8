"""
Operators that tandem's generated DAGs use.

- ``pipeline_stages``: one factory per stage kind, plus the run's source check and each
  partition's fingerprint commit (their callables are in ``utils/fingerprints.py``); the module
  the generated DAG files import;
- ``source_check``: the run's ``check_sources`` branch, which lets only changed partitions run;
- ``evaluation``: the evaluation stage's quality gate;
- ``handoff``: the deferrable ``TemporalHandoffOperator``, which starts (idempotently) the Temporal
  workflow of a ``handoff`` stage through the control API and defers to its trigger, holding no
  worker slot while the workflow runs;
- ``bash``: the ``bash`` stage's BashOperator, which renders nothing through Jinja.
"""

"""A stand-in for ``tandem_airflow.utils.fingerprints`` in ``dag.test()`` runs of generated DAGs."""

from __future__ import annotations

import types


class FingerprintStandIn:
    """Replaces tandem_airflow.utils.fingerprints for the run: which partitions 'changed', and whose sources cannot be read."""

    def __init__(self, unchanged: set[str], unreadable: frozenset[str] = frozenset()):
        self.unchanged = unchanged
        self.unreadable = unreadable
        self.checked: list[tuple[str, bool]] = []
        self.committed: list[str] = []
        #: The hook each check was given (the run's check passes one for all its partitions).
        self.hooks: list[object] = []

    def module(self) -> types.ModuleType:
        from airflow.sdk.exceptions import AirflowSkipException

        from tandem_airflow.utils.sources import SourceUnreadableError

        module = types.ModuleType("tandem_airflow.utils.fingerprints")

        def check_partition_sources(pipeline_id, partition, sources, force, hook=None, **context):
            self.checked.append((partition, force))
            self.hooks.append(hook)
            if partition in self.unreadable:
                raise SourceUnreadableError(f"partition {partition!r}: source 'docs' (command) cannot be read: exit 2")
            if partition in self.unchanged and not force:
                raise AirflowSkipException(f"sources of partition {partition} unchanged since the last successful run")
            return {"partition": partition, "fingerprints": {s["id"]: "fp" for s in sources}}

        def commit_partition_fingerprints(pipeline_id, partition, **context):
            self.committed.append(partition)

        module.check_partition_sources = check_partition_sources
        module.commit_partition_fingerprints = commit_partition_fingerprints
        return module

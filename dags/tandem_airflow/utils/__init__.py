"""
Helpers that are not operators, hooks or triggers: the partition a task serves, the run's date and
other reads of the task context, ``{placeholder}`` filling, imports made when a task runs
(``late_import``), and the source check with its fingerprint commit.

A leaf package: it imports nothing from ``operators/`` or ``triggers/`` (only ``hooks/``, for the
control API), so every operator and trigger may import it without an import cycle.
"""

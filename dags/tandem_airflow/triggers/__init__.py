"""
Triggers (async, run by the triggerer) for tandem's deferrable operators.

- ``handoff``: ``HandoffTrigger`` long-polls the control API for a hand-off's outcome; it ends the
  task itself on success (result as XCom) and reports any other outcome as a ``TriggerEvent`` with
  a status (failed, rejected, expired, …).

Triggers live in this installed package because the triggerer must import them; DAG files never
define triggers.
"""

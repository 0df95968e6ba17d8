"""
Triggers (async, run by the triggerer) for tandem's deferrable operators.

Coming next: the hand-off trigger that long-polls the control API for a workflow's result and
reports it as a ``TriggerEvent`` with a status (success, failed, rejected, expired). It lives in
this installed package because the triggerer must import it; DAG files never define triggers.
"""

"""``{placeholder}`` filling: plain text, one pass, never Jinja."""

from __future__ import annotations

from tandem_airflow.utils.placeholders import fill_placeholders, fill_structure


def test_placeholders_are_replaced_literally_never_templated():
    assert fill_placeholders("/data/{partition}/{ds}/{{ ds }}", "a b", "2026-11-25") == "/data/a b/2026-11-25/{{ ds }}"


def test_placeholders_are_filled_in_one_pass():
    # A value that contains a placeholder (a run id, a partition key) is not expanded again.
    assert fill_placeholders("{partition}|{ds}|{run_id}|{other}", "a{ds}", "2026-06-02", run_id="x{partition}") == "a{ds}|2026-06-02|x{partition}|{other}"


def test_structures_are_filled_in_their_strings_only():
    filled = fill_structure({"{ds}": ["{ds}", 3, None, {"a": "{partition}"}], "n": True}, {"partition": "p", "ds": "2026-06-02"})
    assert filled == {"{ds}": ["2026-06-02", 3, None, {"a": "p"}], "n": True}

"""How entries read: data summaries, and CSV cells a spreadsheet will not evaluate."""

import pytest

from apps.audit.formatting import csv_cell, data_summary


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+358 40 123", "'+358 40 123"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=b", "a=b"),
        ("owner@acme.example", "owner@acme.example"),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_evaluate_start_with_a_quote(value, cell):
    assert csv_cell(value) == cell


def test_data_summary_reads_changes_as_before_and_after():
    summary = data_summary({"changes": {"min_n": [10, 12], "time_zone": ["UTC", None]}})
    assert summary == "min n: 10 → 12; time zone: UTC → \N{EN DASH}"


def test_data_summary_reads_plain_values_lists_and_nested_data():
    data = {"access": "read_only", "prefix": "ab12", "roles": ["admin", "viewer"],
            "resent": True, "limits": {"per_day": 5}}  # fmt: skip
    assert data_summary(data) == (
        "access: read_only; prefix: ab12; roles: admin, viewer; resent: yes; limits: per day=5"
    )
    assert data_summary({}) == ""

"""How audit entries read to people: a one-line summary of their data, and safe CSV cells."""

from typing import Any

from django.utils.translation import gettext as _

# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection).
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell that a spreadsheet shows as text instead of evaluating it."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_TRIGGERS) else text


def data_summary(data: dict[str, Any]) -> str:
    """`{"changes": {"min_n": [10, 12]}, "prefix": "ab12"}` reads "min n: 10 → 12; prefix: ab12"."""
    return "; ".join(data_lines(data))


def data_lines(data: dict[str, Any]) -> list[str]:
    """The summary's parts, one a line on the web page."""
    lines: list[str] = []
    for key, value in data.items():
        if key == "changes" and isinstance(value, dict):
            lines.extend(_change(name, change) for name, change in value.items())
        else:
            lines.append(f"{_label(key)}: {_value(value)}")
    return lines


def _change(name: str, change: Any) -> str:
    if isinstance(change, list | tuple) and len(change) == 2:
        return f"{_label(name)}: {_value(change[0])} → {_value(change[1])}"
    return f"{_label(name)}: {_value(change)}"


def _label(key: str) -> str:
    return str(key).replace("_", " ")


def _value(value: Any) -> str:
    if value is None or value == "":
        return "\N{EN DASH}"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)}={_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return str(value)

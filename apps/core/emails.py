"""Email helpers shared by every app that sends mail."""

from typing import Any

from django.template.loader import render_to_string


def render_subject(template_name: str, context: dict[str, Any]) -> str:
    """A subject on one line: names with line breaks must not break the header (or the send)."""
    return " ".join(render_to_string(template_name, context).split())

"""Ordered rows (stages, touchpoints, questionnaire items) kept numbered 0..n-1."""

from typing import Any, Protocol


class Positioned(Protocol):
    pk: Any
    position: int


def reposition[P: Positioned](rows: list[P], moved: P, position: int) -> list[P]:
    """Put `moved` at index `position` (clamped) among `rows`, number them 0..n-1, and return
    the rows whose position changed (the ones to save)."""
    ordered = [row for row in rows if row.pk != moved.pk]
    position = max(0, min(int(position), len(ordered)))
    ordered.insert(position, moved)
    changed = []
    for index, row in enumerate(ordered):
        if row.position != index:
            row.position = index
            changed.append(row)
    return changed

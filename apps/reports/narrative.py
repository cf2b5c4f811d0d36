"""The top priorities in plain words, in the active language, built from the report's figures.

Numbers are rounded for reading (DESIGN.md): scores and gaps to whole points, p-values to two
significant digits (below 0.001 as "p < 0.001"), correlations to two decimals, with the active
language's decimal separator.
"""

from dataclasses import dataclass

from django.utils.formats import get_format
from django.utils.translation import gettext as _

from apps.scoring.figures import GapReport, Priority, TouchpointRow

from .charts import classification_label


def decimal(text: str) -> str:
    return text.replace(".", str(get_format("DECIMAL_SEPARATOR")))


def p_text(p: float | None) -> str:
    """ "p < 0.001" or "p = 0.0092": two significant digits."""
    if p is None:
        return "p = -"
    if p < 0.001:
        return "p < " + decimal("0.001")
    return "p = " + decimal(f"{p:#.2g}".rstrip("."))


def points(value: float | None) -> str:
    return "-" if value is None else f"{abs(value):.0f}"


def rho_text(rho: float | None) -> str:
    return "-" if rho is None else decimal(f"{rho:.2f}")


def outcome_of(report: GapReport) -> str:
    """The outcome derived importance correlates with: NPS when the journey asks it."""
    keys = {row.item_key for row in report.outcomes}
    return "nps" if "nps" in keys or not keys else "overall"


@dataclass(frozen=True)
class PriorityText:
    touchpoint: TouchpointRow
    priority: Priority
    title: str
    sentence: str
    detail: str  # the dimension that stands out, or ""


def _largest_dimension_gap(row: TouchpointRow) -> tuple[str, float] | None:
    gaps = [
        (d.dimension, d.gap.gap)
        for d in row.dimensions
        if d.gap.gap is not None and d.gap.classification == "blind_spot"
    ]
    if not gaps:
        return None
    return max(gaps, key=lambda item: item[1])


def dimension_label(dimension: str) -> str:
    """A dimension's name for use inside a sentence (lower case)."""
    return {
        "effectiveness": _("effectiveness"),
        "ease": _("ease"),
        "emotion": _("emotion"),
    }.get(dimension, dimension)


def priority_sentence(
    priority: Priority, row: TouchpointRow, *, rank: int, outcome: str, name: str
) -> str:
    """One sentence: what the figures say, why it matters, what to do."""
    action = _("work on it first.") if rank == 0 else _("work on it next.")
    values = {
        "touchpoint": name,
        "gap": points(priority.gap),
        "score": points(priority.customer_score),
        "p": p_text(row.gap.p_value),
        "rho": rho_text(row.spearman_rho),
        "importance": f"{1 + 4 * priority.importance:.0f}",
        "action": action,
    }
    derived = priority.importance_source == "derived"
    if priority.kind == "blind_spot":
        if derived and outcome == "nps":
            text = _(
                "Staff rate %(touchpoint)s %(gap)s points higher than customers do (%(p)s), "
                "and it drives recommendation (rho %(rho)s): %(action)s"
            )
        elif derived:
            text = _(
                "Staff rate %(touchpoint)s %(gap)s points higher than customers do (%(p)s), "
                "and it drives overall satisfaction (rho %(rho)s): %(action)s"
            )
        else:
            text = _(
                "Staff rate %(touchpoint)s %(gap)s points higher than customers do (%(p)s), "
                "and its declared importance is %(importance)s of 5: %(action)s"
            )
    elif derived and outcome == "nps":
        text = _(
            "Customers rate %(touchpoint)s %(score)s out of 100, and it drives recommendation "
            "(rho %(rho)s): improving it does the most good, %(action)s"
        )
    elif derived:
        text = _(
            "Customers rate %(touchpoint)s %(score)s out of 100, and it drives overall "
            "satisfaction (rho %(rho)s): improving it does the most good, %(action)s"
        )
    else:
        text = _(
            "Customers rate %(touchpoint)s %(score)s out of 100, and its declared importance is "
            "%(importance)s of 5: improving it does the most good, %(action)s"
        )
    return text % values


def priority_texts(report: GapReport, names: dict[int, str] | None = None) -> list[PriorityText]:
    """The report's top priorities with their explanations, in order."""
    rows = {row.touchpoint_id: row for row in report.touchpoints}
    outcome = outcome_of(report)
    texts = []
    for rank, priority in enumerate(report.top_priorities):
        row = rows.get(priority.touchpoint_id)
        if row is None:
            continue
        name = (names or {}).get(row.touchpoint_id, row.name)
        detail = ""
        largest = _largest_dimension_gap(row) if priority.kind == "blind_spot" else None
        if largest is not None:
            detail = _("The largest gap is in %(dimension)s: %(gap)s points.") % {
                "dimension": dimension_label(largest[0]),
                "gap": points(largest[1]),
            }
        title = (
            _("Blind spot: %(touchpoint)s") % {"touchpoint": name}
            if priority.kind == "blind_spot"
            else _("Opportunity: %(touchpoint)s") % {"touchpoint": name}
        )
        texts.append(
            PriorityText(
                touchpoint=row,
                priority=priority,
                title=title,
                sentence=priority_sentence(priority, row, rank=rank, outcome=outcome, name=name),
                detail=detail,
            )
        )
    return texts


def finding_label(row: TouchpointRow) -> str:
    return classification_label(row.gap.classification)

"""Numbers for reading: scores to whole points, gaps signed, p-values to two digits."""

from django import template

from apps.reports.charts import gap_text, score_text
from apps.reports.narrative import p_text

register = template.Library()


@register.filter
def score(value: float | None) -> str:
    return score_text(value)


@register.filter
def signed(value: float | None) -> str:
    return gap_text(value)


@register.filter
def pvalue(value: float | None) -> str:
    return p_text(value)

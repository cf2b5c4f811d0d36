"""The report filter: a period, segment attributes and a questionnaire, parsed from query params.

Every report selector takes a `ReportFilter`. Parsing validates against the organisation and the
journey (dates, known attribute names, the questionnaire's journey) and raises ValidationFailed
naming the parameter, so a bad filter is a 400 and never an empty report.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ValidationFailed
from apps.journeys.models import Journey
from apps.organizations.models import Organization

DEFAULT_PERIOD_DAYS = 90
# Beyond these a "report" is a typo, and a day series of it would be unreadably long.
MAX_PERIOD_DAYS = 3660
EARLIEST = date(2000, 1, 1)
ATTRIBUTE_PREFIX = "attr."


@dataclass(frozen=True)
class ReportFilter:
    """Days `date_from`..`date_to` (both included, the organisation's time zone); segment
    attributes (OR within an attribute's values, AND across attributes); one questionnaire or
    all of the journey's."""

    date_from: date
    date_to: date
    attributes: dict[str, list[str]] = field(default_factory=dict)
    questionnaire_id: int | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def previous(self) -> "ReportFilter":
        """The period of equal length just before this one, same segments (for trends)."""
        return ReportFilter(
            date_from=self.date_from - timedelta(days=self.days),
            date_to=self.date_from - timedelta(days=1),
            attributes=self.attributes,
            questionnaire_id=self.questionnaire_id,
        )

    def without(self, attribute: str) -> "ReportFilter":
        return ReportFilter(
            date_from=self.date_from,
            date_to=self.date_to,
            attributes={k: v for k, v in self.attributes.items() if k != attribute},
            questionnaire_id=self.questionnaire_id,
        )

    def matches(self, values: Mapping[str, Any]) -> bool:
        """Whether an attribute set's values satisfy the segment attributes."""
        return all(
            name in values and str(values[name]) in allowed
            for name, allowed in self.attributes.items()
        )

    def canonical(self) -> dict[str, Any]:
        """A plain, order-independent form: the API echoes it, caches key on it."""
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "attributes": {k: sorted(set(v)) for k, v in sorted(self.attributes.items())},
            "questionnaire": self.questionnaire_id,
        }

    def digest(self) -> str:
        payload = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def today_in(zone_name: str | None, now: datetime | None = None) -> date:
    """The date at `now` (default: now) in the time zone named (UTC when unknown)."""
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return timezone.localtime(now or timezone.now(), zone).date()


def organization_today(organization: Organization) -> date:
    return today_in(organization.time_zone)


def default_filter(organization: Organization, *, today: date | None = None) -> ReportFilter:
    """The last 90 days up to today in the organisation's time zone, everyone."""
    today = today or organization_today(organization)
    return ReportFilter(date_from=today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), date_to=today)


def _values(params: Any, name: str) -> list[str]:
    if hasattr(params, "getlist"):
        return [str(v) for v in params.getlist(name)]
    raw = params.get(name)
    if raw is None:
        return []
    return [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]


def _one(params: Any, name: str) -> str | None:
    values = _values(params, name)
    return values[-1].strip() if values else None


def _date(params: Any, name: str, errors: dict[str, list[str]]) -> date | None:
    raw = _one(params, name)
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        errors[name] = [_("Give a date as YYYY-MM-DD.")]
        return None
    if value < EARLIEST or value.year > 2100:
        errors[name] = [_("Give a date between 2000 and 2100.")]
        return None
    return value


def known_attribute_names(*, organization: Organization, journey: Journey) -> set[str]:
    """Names a filter may use: keys of the organisation's stored attribute sets (what responses
    carried) and the context attributes declared on the journey's questionnaires (what they
    may carry, before the first response)."""
    # One query over the journey's questionnaires at once (the distribution selectors read
    # one questionnaire at a time).
    from apps.distribution.models import ContextAttribute

    from .models import AttributeSet

    names: set[str] = set()
    for values in AttributeSet.objects.for_organization(organization).values_list(
        "values", flat=True
    ):
        names.update(values or {})
    names.update(
        ContextAttribute.objects.for_organization(organization)
        .filter(questionnaire__journey=journey)
        .values_list("name", flat=True)
    )
    return names


def _attributes(params: Any, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    keys: Iterable[str] = params.keys() if hasattr(params, "keys") else []
    attributes: dict[str, list[str]] = {}
    for key in keys:
        if not key.startswith(ATTRIBUTE_PREFIX):
            continue
        name = key[len(ATTRIBUTE_PREFIX) :]
        values = [v.strip() for v in _values(params, key)]
        if not name:
            errors[key] = [_("Name the attribute: attr.<name>=<value>.")]
        elif not all(values) or not values:
            errors[key] = [_("Give a value.")]
        elif any(len(v) > 100 for v in values):
            errors[key] = [_("At most 100 characters.")]
        else:
            attributes[name] = sorted(set(values))
    return attributes


def report_filter_parse(
    *,
    organization: Organization,
    journey: Journey,
    params: Any,
    today: date | None = None,
    known_attributes: Iterable[str] | None = None,
) -> ReportFilter:
    """A ReportFilter from query parameters: `from`, `to` (ISO dates, included), `questionnaire`
    (an id of the journey's), `attr.<name>=<value>` (repeatable). Missing dates default to the
    last 90 days in the organisation's time zone. Raises ValidationFailed naming the parameter.

    `known_attributes`: the names `known_attribute_names` gives, when the caller has read them
    already (the dashboard has), saving its two queries.
    """
    errors: dict[str, list[str]] = {}
    date_from = _date(params, "from", errors)
    date_to = _date(params, "to", errors)
    if not errors:
        if date_to is None:
            today = today or organization_today(organization)
            date_to = today if date_from is None else max(today, date_from)
        if date_from is None:
            date_from = date_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if date_to < date_from:
            errors["to"] = [_("The end date is before the start date.")]
        elif (date_to - date_from).days + 1 > MAX_PERIOD_DAYS:
            errors["to"] = [_("A period may be at most ten years long.")]

    questionnaire_id = None
    raw_questionnaire = _one(params, "questionnaire")
    if raw_questionnaire:
        if not raw_questionnaire.isdigit() or len(raw_questionnaire) > 12:
            errors["questionnaire"] = [_("Give a questionnaire id.")]
        else:
            from apps.surveys.selectors import questionnaire_get

            questionnaire_id = int(raw_questionnaire)
            questionnaire = questionnaire_get(
                organization=organization, questionnaire_id=questionnaire_id
            )
            if questionnaire is None or questionnaire.journey_id != journey.pk:
                errors["questionnaire"] = [_("Not a questionnaire of this journey.")]

    attributes = _attributes(params, errors)
    if attributes:
        known = (
            set(known_attributes)
            if known_attributes is not None
            else known_attribute_names(organization=organization, journey=journey)
        )
        for name in attributes:
            if name not in known:
                errors[ATTRIBUTE_PREFIX + name] = [
                    _("Unknown attribute %(name)s.") % {"name": name}
                ]

    if errors:
        raise ValidationFailed(
            _("Invalid filter: %(names)s.") % {"names": ", ".join(sorted(errors))},
            fields=errors,
        )
    assert date_from is not None and date_to is not None
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        attributes=attributes,
        questionnaire_id=questionnaire_id,
    )

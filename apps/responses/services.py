"""Storing a response: validate the answers against the version they answer, write once.

The path must stay fast: validation works on items already loaded, and the response, all its
answers and its pending row for the scoring pipeline are written at once: on PostgreSQL in one
statement, elsewhere as INSERTs and a bulk INSERT in one transaction. A duplicate idempotency
key (double tap, retry, two tabs) stores nothing new.
"""

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.alerts.consent import contact_answers_honour_consent
from apps.core.errors import ValidationFailed
from apps.core.logging import detached_request_id
from apps.core.tenancy import execute_for_organization
from apps.distribution.models import SurveyLink
from apps.surveys.models import CHOICE_KINDS, SCALED_KINDS, Audience, Item, ItemKind

from .models import Answer, PendingResponse, Response

logger = logging.getLogger(__name__)

NOT_APPLICABLE = "na"
MAX_TEXT = 2000
TEXT_KINDS = (ItemKind.COMMENT, ItemKind.TEXT)


def field_name(item: Item) -> str:
    return f"i{item.id}"  # .id, not .pk: this runs ~70 times per submission


@dataclass(slots=True)
class CleanedAnswer:
    item: Item
    value: int | None = None
    not_applicable: bool = False
    text: str = ""
    choices: list[str] = field(default_factory=list)
    # The answer as the write's JSON record, when made in advance (an exact value's).
    record: str = ""


def used_touchpoints(items: Sequence[Item], data: Mapping[str, Sequence[str]]) -> set[int]:
    """Touchpoints the respondent used: screening answered "yes", or no screening question."""
    screened = {item.touchpoint_id for item in items if item.kind == ItemKind.SCREENING}
    used = {
        item.touchpoint_id
        for item in items
        if item.kind == ItemKind.SCREENING and list(data.get(field_name(item), [])) == ["yes"]
    }
    unscreened = {item.touchpoint_id for item in items if item.touchpoint_id not in screened}
    return {tp for tp in used | unscreened if tp is not None}


def visible_items(
    items: Sequence[Item], data: Mapping[str, Sequence[str]], step: int
) -> list[Item]:
    """Step 1: the screening questions. Step 2: the rest, for used touchpoints only."""
    if step == 1:
        return [item for item in items if item.kind == ItemKind.SCREENING]
    used = used_touchpoints(items, data)
    return [
        item
        for item in items
        if item.kind != ItemKind.SCREENING
        and (item.touchpoint_id is None or item.touchpoint_id in used)
    ]


def _clean_one(item: Item, values: list[str]) -> tuple[CleanedAnswer | None, str | None]:
    values = [v.strip() for v in values if v.strip()]
    if not values:
        return None, _("Please answer this question.") if item.required else None
    answer = CleanedAnswer(item=item)
    if item.kind in SCALED_KINDS:
        if len(values) > 1:
            return None, _("Choose one answer.")
        if values[0] == NOT_APPLICABLE and item.allow_not_applicable:
            answer.not_applicable = True
            return answer, None
        try:
            value = int(values[0])
        except ValueError:
            return None, _("Choose one of the options.")
        if (
            item.scale_lo is None
            or item.scale_hi is None
            or not (item.scale_lo <= value <= item.scale_hi)
        ):
            return None, _("Choose a value from %(lo)s to %(hi)s.") % {
                "lo": item.scale_lo, "hi": item.scale_hi,
            }  # fmt: skip
        answer.value = value
    elif item.kind in (*CHOICE_KINDS, ItemKind.SCREENING):
        known = {str(choice["value"]) for choice in item.choices}
        if any(v not in known for v in values):
            return None, _("Choose one of the options.")
        if item.kind != ItemKind.MULTIPLE_CHOICE and len(values) > 1:
            return None, _("Choose one answer.")
        answer.choices = list(dict.fromkeys(values))
    elif item.kind in TEXT_KINDS:
        text = "\n".join(values)
        if len(text) > MAX_TEXT:
            return None, _("Keep the answer under %(max)s characters.") % {"max": MAX_TEXT}
        answer.text = text
    return answer, None


# What a single value of an item stands for, when sent exactly as the form offers it (a scale
# point, "na" where offered, a choice's value): answer value, not applicable, choice, and the
# answer's JSON record for the write. Read before the general rules of `_clean_one`, which give
# the same answer for such a value.
_Exact = tuple[int | None, bool, str | None, str]
_EXACT_ATTR = "_respondent_exact_values"


def _exact_values(item: Item) -> dict[str, _Exact]:
    """Per item, made once: published items are shared by the requests of a process and never
    change (apps/responses/selectors.py)."""
    exact = item.__dict__.get(_EXACT_ATTR)
    if exact is None:
        meanings: dict[str, tuple[int | None, bool, str | None]] = {}
        if item.kind in SCALED_KINDS:
            if item.scale_lo is not None and item.scale_hi is not None:
                meanings = {str(p): (p, False, None) for p in item.scale_points()}
            if item.allow_not_applicable:
                meanings[NOT_APPLICABLE] = (None, True, None)
        elif item.kind in (*CHOICE_KINDS, ItemKind.SCREENING):
            meanings = {str(c["value"]): (None, False, str(c["value"])) for c in item.choices}
        exact = {
            sent: (value, na, choice,
                   _record(item.pk, value, na, "", [choice] if choice is not None else []))
            for sent, (value, na, choice) in meanings.items()
        }  # fmt: skip
        item.__dict__[_EXACT_ATTR] = exact
    return exact


class ItemPlan:
    """What validating answers needs to know about a version's items, worked out once: each
    item's field name, touchpoint and exact values, the screening questions, the touchpoints
    without one. Published items never change, so the respondent path keeps one per version
    with its items (`PlannedItems`); anything else gets one made per call.
    """

    def __init__(self, items: Sequence[Item]) -> None:
        entries = [(item, field_name(item), item.touchpoint_id) for item in items]
        self.known = frozenset(name for _item, name, _tp in entries)
        self.screening = [(item, name, tp) for item, name, tp in entries
                          if item.kind == ItemKind.SCREENING]  # fmt: skip
        self.others = [(item, name, tp) for item, name, tp in entries
                       if item.kind != ItemKind.SCREENING]  # fmt: skip
        screened = {tp for _item, _name, tp in self.screening}
        self.unscreened = frozenset(
            tp for _item, _name, tp in entries if tp is not None and tp not in screened
        )
        for item, _name, _tp in entries:
            _exact_values(item)

    def used(self, data: Mapping[str, Sequence[str]]) -> set[int]:
        """As `used_touchpoints`."""
        used = {tp for _item, name, tp in self.screening
                if tp is not None and list(data.get(name, ())) == ["yes"]}  # fmt: skip
        return used | self.unscreened


class PlannedItems(list[Item]):
    """A list of items that carries its plan (a fresh list per request over shared items)."""

    plan: ItemPlan

    def __init__(self, items: Sequence[Item], plan: ItemPlan) -> None:
        super().__init__(items)
        self.plan = plan


def answers_clean(
    items: Sequence[Item], data: Mapping[str, Sequence[str]], *, step: int
) -> tuple[list[CleanedAnswer], dict[str, list[str]]]:
    """The answers of the steps up to `step`, and error messages per form field.

    A field naming an item that is not in this version's side is an error; answers to
    touchpoints the respondent said they did not use are dropped (they changed their mind).
    """
    plan = items.plan if isinstance(items, PlannedItems) else ItemPlan(items)
    known = plan.known
    errors: dict[str, list[str]] = {
        name: [_("Unknown question.")]
        for name in data
        if name not in known and name.startswith("i") and name[1:].isdigit()
    }
    if step >= 2:  # both steps at once: the screening questions, then the used touchpoints'
        used = plan.used(data)
        shown = plan.screening + [
            entry for entry in plan.others if entry[2] is None or entry[2] in used
        ]
    else:
        shown = plan.screening
    cleaned = []
    for item, name, _tp in shown:
        values = data.get(name) or ()
        if len(values) == 1:
            exact = item.__dict__[_EXACT_ATTR].get(values[0])
            if exact is not None:
                value, not_applicable, choice, record = exact
                cleaned.append(
                    CleanedAnswer(item=item, value=value, not_applicable=not_applicable,
                                  choices=[choice] if choice is not None else [], record=record)
                )  # fmt: skip
                continue
        answer, error = _clean_one(item, list(values))
        if error:
            errors[name] = [error]
        elif answer is not None:
            cleaned.append(answer)
    return contact_answers_honour_consent(cleaned, errors, field_name=field_name)


@dataclass(frozen=True)
class Respondent:
    """What the form and the request tell about one submission."""

    idempotency_key: uuid.UUID
    language: str
    started_at: datetime
    segment: dict[str, str]
    ip_address: str | None = None
    user_agent: str = ""


def response_submit(
    *,
    link: SurveyLink,
    items: Sequence[Item],
    data: Mapping[str, Sequence[str]],
    respondent: Respondent,
    on_stored: Callable[[Response], None] | None = None,
) -> Response | None:
    """Validate and store one response with all its answers; None if it was already stored.

    `on_stored` runs inside the response's transaction (a personal invitation is marked used
    there); an error it raises stores nothing.

    Raises ValidationFailed (fields named as in the form) and stores nothing on bad input.
    Employee responses keep no address, user agent or exact time, only the date.
    """
    if not items:
        raise ValidationFailed(
            _("This form belongs to another survey."),
            fields={"version": [_("Not a version of this questionnaire.")]},
        )
    cleaned, errors = answers_clean(items, data, step=2)
    if errors:
        raise ValidationFailed(_("Please check the answers marked below."), fields=errors)
    if not cleaned:
        raise ValidationFailed(
            _("Please answer at least one question."), fields={"answers": [_("No answers.")]}
        )
    now = timezone.now()
    employee = link.audience == Audience.EMPLOYEE
    response = Response(
        organization_id=link.organization_id,
        questionnaire_id=link.questionnaire_id,
        version_id=items[0].version_id,
        audience=link.audience,
        link=link,
        segment=respondent.segment,
        idempotency_key=respondent.idempotency_key,
        submitted_on=_day(link, now),
        submitted_at=None if employee else now,
        ip_address=None if employee else respondent.ip_address,
        user_agent="" if employee else respondent.user_agent[:300],
        language=respondent.language,
        duration_seconds=max(0, int((now - respondent.started_at).total_seconds())),
    )
    if not _insert(response, cleaned, on_stored):
        return None  # the same form was already stored (double tap, retry, a second tab, a race)
    transaction.on_commit(lambda: _queue(response))
    return response


# The answer fields sent to PostgreSQL as one JSON array of records, and the statement, built
# once per database alias.
ANSWER_FIELDS = ("item", "value", "not_applicable", "text", "choices")
# The response's columns, in the statement's order.
_RESPONSE_FIELDS = [f for f in Response._meta.concrete_fields if not f.primary_key]


def _taken_as_is(model_field: Any) -> bool:
    """Whether psycopg takes the field's value as the model holds it on PostgreSQL (integers,
    strings, dates and times, booleans, UUIDs, foreign keys to those): preparing each value
    through the field costs more than the rest of the write's parameters together. JSON and
    addresses, and anything else, go through `get_db_prep_save`."""
    if isinstance(model_field, models.ForeignKey):
        return _taken_as_is(model_field.target_field)
    return isinstance(
        model_field,
        (models.IntegerField, models.CharField, models.DateField, models.BooleanField,
         models.UUIDField),
    )  # fmt: skip


_RESPONSE_AS_IS = [_taken_as_is(f) for f in _RESPONSE_FIELDS]
_INSERT_SQL: dict[str, str] = {}


def _insert(
    response: Response,
    cleaned: Sequence[CleanedAnswer],
    on_stored: Callable[[Response], None] | None,
) -> bool:
    """Store the response and all its answers at once; False if its idempotency key is taken."""
    connection = connections[router.db_for_write(Response)]
    write = _insert_postgresql if connection.vendor == "postgresql" else _insert_orm
    try:
        # One statement is atomic by itself; `on_stored` must share the response's fate.
        with transaction.atomic(using=connection.alias) if on_stored else nullcontext():
            if not write(connection, response, cleaned):
                return False
            if on_stored is not None:
                on_stored(response)
    except IntegrityError:
        if (
            Response.objects.for_organization(response.organization_id)
            .filter(idempotency_key=response.idempotency_key)
            .exists()
        ):
            return False
        raise
    return True


def _insert_orm(connection: Any, response: Response, cleaned: Sequence[CleanedAnswer]) -> bool:
    with transaction.atomic(using=connection.alias):
        response.save(force_insert=True, using=connection.alias)
        PendingResponse(organization_id=response.organization_id, response=response).save(
            force_insert=True, using=connection.alias
        )
        Answer.objects.using(connection.alias).bulk_create(
            [
                Answer(
                    organization_id=response.organization_id,
                    response=response,
                    item_id=a.item.pk,
                    value=a.value,
                    not_applicable=a.not_applicable,
                    text=a.text,
                    choices=a.choices,
                )
                for a in cleaned
            ]
        )
    return True


def _insert_postgresql(
    connection: Any, response: Response, cleaned: Sequence[CleanedAnswer]
) -> bool:
    """The response and its answers in one statement: no BEGIN/COMMIT round trips, no model
    instance per answer (the answers travel as one JSON array), and a duplicate idempotency
    key is a no-op rather than an error.

    This is the respondent hot path; the ORM's way (a transaction, an INSERT, a bulk INSERT of
    Answer instances) cost several times the CPU of the database's own work.
    """
    fields = _RESPONSE_FIELDS
    params: list[Any] = [
        getattr(response, f.attname) if as_is
        else f.get_db_prep_save(getattr(response, f.attname), connection)
        for f, as_is in zip(fields, _RESPONSE_AS_IS, strict=True)
    ]  # fmt: skip
    params.append(response.organization_id)
    records = [
        a.record or _record(a.item.pk, a.value, a.not_applicable, a.text, a.choices)
        for a in cleaned
    ]
    params.append(f"[{','.join(records)}]")
    with _server_binding_cursor(connection) as cursor:
        # The organisation for row-level security travels with the statement (pipeline mode).
        execute_for_organization(
            cursor, response.organization_id, _postgresql_insert_sql(connection), params
        )
        row = cursor.fetchone()
    if row is None:
        return False
    response.pk = row[0]
    response._state.adding = False
    response._state.db = connection.alias
    return True


def _record(item_id: int, value: int | None, na: bool, text: str, choices: list[str]) -> str:
    """One answer as a JSON record of the write (ANSWER_FIELDS)."""
    return json.dumps(
        {"item": item_id, "value": value, "not_applicable": na, "text": text, "choices": choices}
    )


def _server_binding_cursor(connection: Any) -> Any:
    """A cursor of the connection that sends values apart from the statement (server-side
    binding), wrapped as Django wraps its own (errors, query logging, execute wrappers).

    Django's cursors bind values into the SQL text on the client, so PostgreSQL parses and
    plans the statement on every submission and psycopg quotes every value. With server-side
    binding psycopg prepares the statement once per connection (after a few uses; the pool
    keeps connections), and each submission sends only the values.
    """
    from django.db.backends.postgresql import base as postgresql

    cursor_class: Any = postgresql.ServerBindingCursor  # psycopg 3's Cursor, Django's mixin
    connection.ensure_connection()
    return connection._prepare_cursor(cursor_class(connection.connection))


def _postgresql_insert_sql(connection: Any) -> str:
    sql = _INSERT_SQL.get(connection.alias)
    if sql is None:
        sql = _INSERT_SQL[connection.alias] = _postgresql_insert_sql_build(connection)
    return sql


def _postgresql_insert_sql_build(connection: Any) -> str:
    quote = connection.ops.quote_name
    fields = _RESPONSE_FIELDS

    def column(model: Any, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    answer_columns = ", ".join(column(Answer, name) for name in ANSWER_FIELDS)
    record = ", ".join(
        f"{name} {Answer._meta.get_field(name).db_type(connection)}" for name in ANSWER_FIELDS
    )
    # Built from the models' table and column names only; every value is a parameter.
    return (
        f"WITH response AS ("  # noqa: S608
        f"INSERT INTO {quote(Response._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({column(Response, 'idempotency_key')}) DO NOTHING "
        f"RETURNING {column(Response, 'organization')}, {column(Response, 'id')}), "
        # The scoring pipeline's pending work: runs though the main statement does not read it.
        f"pending AS (INSERT INTO {quote(PendingResponse._meta.db_table)} "
        f"({column(PendingResponse, 'organization')}, {column(PendingResponse, 'response')}) "
        f"SELECT response.{column(Response, 'organization')}, response.{column(Response, 'id')} "
        f"FROM response) "
        f"INSERT INTO {quote(Answer._meta.db_table)} "
        f"({column(Answer, 'organization')}, {column(Answer, 'response')}, {answer_columns}) "
        f"SELECT %s, response.{column(Response, 'id')}, "
        f"{', '.join(f'a.{name}' for name in ANSWER_FIELDS)} "
        f"FROM response, json_to_recordset(%s::json) AS a ({record}) "
        f"RETURNING {column(Answer, 'response')}"
    )


def _day(link: SurveyLink, now: datetime) -> date:
    try:
        zone = ZoneInfo(link.organization.time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return timezone.localtime(now, zone).date()


def _queue(response: Response, window: int = 1) -> None:
    """Hand the stored response to the pipeline, debounced: at most one message per organisation
    per `window` seconds (publishing is a large share of a submission's cost at 100/s).

    The first response of a window publishes a processing task due just after the window
    closes, so it finds every response committed in the window; later ones only find the key
    taken. The key holds when that window closes, so a process that finds it taken reads it
    once and asks no more until then (without that, each of the other web processes paid a
    cache round trip per submission). A broker or cache outage must not fail the respondent:
    the response is committed and stays unprocessed until the sweeper queues its organisation
    again.
    """
    from django.core.cache import cache

    from .tasks import process_response

    # The task must not log under the respondent request's id: with the web server's log of
    # that request it would tie an (employee) response to a moment and a connection.
    organization_id = response.organization_id
    started = time.monotonic()
    # This process published a task within the window: it runs after the window closes, so
    # after this commit, and finds this response too. Skipping the cache saves a Redis client
    # and round trip on most submissions at high rates.
    if started - _QUEUED_AT.get(organization_id, float("-inf")) < window:
        return
    key = f"scoring:queued:{organization_id}"
    with detached_request_id():
        try:
            closes = time.time() + window
            if cache.add(key, closes, timeout=window):
                # Half a second beyond the window, for clocks of web and worker hosts that
                # disagree a little.
                process_response.apply_async(
                    kwargs={"organization_id": organization_id}, countdown=window + 0.5
                )
                _QUEUED_AT[organization_id] = started
                return
            # Another process's task is due half a second after its window closes: it finds
            # what this process commits until then.
            taken = cache.get(key)
            left = float(taken) - time.time() if isinstance(taken, (int, float)) else 0.0
            if 0 < left <= window:
                _QUEUED_AT[organization_id] = started + left - window
        except Exception:
            logger.exception("could not queue processing; the response stays unprocessed")


# Organisation id -> when this process last published its processing task (monotonic clock).
_QUEUED_AT: dict[int, float] = {}

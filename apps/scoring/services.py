"""Turning stored responses into the scoring aggregates, incrementally and by full rescoring.

A batch claims unprocessed responses of one organisation (their PendingResponse rows, SELECT ...
FOR UPDATE SKIP LOCKED), files their segments under attribute sets, adds their answers to the
daily aggregates with a few INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE statements
and deletes their pending rows, all in one transaction: a response counts once, whatever is
retried or delivered twice. The number of statements per batch does not depend on its size. A
full rescoring computes a journey's aggregates afresh from every one of its responses with the
same grouping and makes the stored rows equal to them (on PostgreSQL writing only the rows that
differ).

The same SQL runs on PostgreSQL and SQLite (>= 3.33: UPSERT, UPDATE ... FROM, json_each). Values
are those of SCORING.md sections 1-4: a scaled answer with a value counts (not "not applicable",
not unanswered), normalised as 100 * (x - lo) / (hi - lo); a respondent's touchpoint score is the
mean of their normalised answers to the touchpoint's dimension items.
"""

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Max, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.alerts.services import alerts_raise_for_responses
from apps.audit.services import audit_record
from apps.core.errors import NotFound, ValidationFailed
from apps.core.sql import bigint_array
from apps.journeys.models import Journey
from apps.organizations.models import Organization
from apps.organizations.permissions import Action, Principal, require
from apps.responses.models import Answer, PendingResponse, Response
from apps.surveys.models import Audience, Item, ItemKind, Questionnaire
from apps.webhooks.services import webhooks_emit_responses

from .filters import today_in
from .models import (
    VALUE_SLICE_NAME_MAX,
    VALUE_SLICE_VALUE_MAX,
    AttributeSet,
    ImportancePairDayCount,
    ImportancePairSetMonthCount,
    ImportancePairSetSpanCount,
    ImportancePairSpanCount,
    ImportancePairValueSpanCount,
    ItemDayCount,
    ItemDayTotal,
    ItemSpanCount,
    PairSpan,
    RespondentScore,
    ScoringState,
    TouchpointDayAggregate,
    TouchpointDayTotal,
    TouchpointSpanAggregate,
)

# Responses per batch: `responses_process` takes 1000 by default; draining a backlog (the
# tasks) goes faster in batches of a few thousand (bench/README.md), still well within one
# batch's memory (BATCH_WORK_MEM).
BATCH_SIZE = 1000
DRAIN_BATCH_SIZE = 5000
# PostgreSQL's work_mem for a batch and for a rescoring (a journey of millions of answers).
BATCH_WORK_MEM = "32MB"
RESCORE_WORK_MEM = "256MB"
# pg_advisory_xact_lock keys: this namespace in the high 32 bits, the organisation's id below.
_LOCK_NAMESPACE = 0x5C0E << 32
# The sweeper's memory of how far the responses went at its earlier runs.
_SWEEP_MARKS_KEY = "scoring:sweep:marks"
_SWEEP_MARKS_KEPT = 10

_SCALED = tuple(str(kind) for kind in (ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL))
_CUSTOMER = str(Audience.CUSTOMER)

_RESPONSE = Response._meta.db_table
_PENDING = PendingResponse._meta.db_table
_ANSWER = Answer._meta.db_table
_ITEM = Item._meta.db_table
_QUESTIONNAIRE = Questionnaire._meta.db_table
_ATTRIBUTE_SET = AttributeSet._meta.db_table
_ITEM_DAY = ItemDayCount._meta.db_table
_TOUCHPOINT_DAY = TouchpointDayAggregate._meta.db_table
_RESPONDENT = RespondentScore._meta.db_table
_ITEM_TOTAL = ItemDayTotal._meta.db_table
_TOUCHPOINT_TOTAL = TouchpointDayTotal._meta.db_table
_PAIRS = ImportancePairDayCount._meta.db_table
_SET_PAIRS = ImportancePairSetMonthCount._meta.db_table
_SET_SPANS = ImportancePairSetSpanCount._meta.db_table
_SPANS = ImportancePairSpanCount._meta.db_table
_VALUE_SPANS = ImportancePairValueSpanCount._meta.db_table
_TOUCHPOINT_SPANS = TouchpointSpanAggregate._meta.db_table
_ITEM_SPANS = ItemSpanCount._meta.db_table
_STATE = ScoringState._meta.db_table


# --- attribute sets ---------------------------------------------------------------------------


def attribute_values(segment: Any) -> dict[str, str]:
    """The stored form of a response's segment: string keys and values (keys sorted on dump)."""
    if not isinstance(segment, dict):
        return {}
    return {str(key): str(value) for key, value in segment.items()}


def attribute_digest(values: dict[str, str]) -> str:
    """sha256 of the canonical JSON of `values`: what makes two segments the same set."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _attribute_sets(organization_id: int, segments: Sequence[Any]) -> list[int]:
    """The AttributeSet id of each segment, creating the missing sets (one to three queries).

    Concurrent batches may create the same set: ON CONFLICT DO NOTHING and a second read settle
    it, and inserting in digest order keeps two batches from waiting on each other crosswise.
    """
    values = [attribute_values(segment) for segment in segments]
    digests = [attribute_digest(v) for v in values]
    by_digest = dict(zip(digests, values, strict=True))
    scope = AttributeSet.objects.for_organization(organization_id)
    known = dict(scope.filter(digest__in=by_digest).values_list("digest", "id"))
    missing = sorted(d for d in by_digest if d not in known)
    if missing:
        rows = json.dumps([{"d": d, "v": by_digest[d]} for d in missing], ensure_ascii=False)
        if connection.vendor == "postgresql":
            source = "jsonb_to_recordset(%s::jsonb) AS e(d text, v jsonb)"
            columns = "e.v, e.d"
        else:
            source = "json_each(%s) AS e"
            columns = "json_extract(e.value, '$.v'), json_extract(e.value, '$.d')"
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {_ATTRIBUTE_SET} (organization_id, "values", digest) '  # noqa: S608
                f"SELECT %s, {columns} FROM {source} WHERE true ORDER BY 3 "
                "ON CONFLICT (organization_id, digest) DO NOTHING",
                [organization_id, rows],
            )
        known.update(scope.filter(digest__in=missing).values_list("digest", "id"))
    return [known[d] for d in digests]


# --- the SQL shared by batches and rescoring ---------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """Which responses (alias `r`) the statements read: a claimed batch or a whole journey.

    `sets` joins each response to its attribute set (alias `m`, column `aset`): the sets are
    resolved in Python (`_attribute_sets`) and handed to the statement, not written on the
    responses (an UPDATE of that foreign key checks it row by row).
    """

    organization_id: int
    sql: str
    params: tuple[Any, ...]
    sets: str
    set_params: tuple[Any, ...]
    # A batch reads its few thousand responses' answers through the answers' index; a whole
    # journey reads the table once (a hash join).
    by_response: bool = False


def _id_list(column: str, ids: Sequence[int]) -> tuple[str, Any]:
    """`column` is one of `ids`, as one parameter (an array, or a JSON list on SQLite), so that
    the statement's text and its number of parameters do not depend on the batch size. The
    planner sees the list and estimates the rows right."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(CAST(%s AS bigint[]))", bigint_array(ids)
    return f"{column} IN (SELECT value FROM json_each(%s))", json.dumps(list(ids))  # noqa: S608


def _sets_by_response(response_ids: Sequence[int], set_ids: Sequence[int]) -> tuple[str, Any]:
    """The join of each response to its attribute set, given as (response id, set id) pairs."""
    if connection.vendor == "postgresql":
        sets = (
            "JOIN unnest(CAST(%s AS bigint[]), CAST(%s AS bigint[])) AS m(id, aset) ON m.id = r.id"
        )
        return sets, (bigint_array(response_ids), bigint_array(set_ids))
    # LIMIT -1 keeps SQLite from flattening the pairs into the join (it would then walk the
    # JSON once per response: seconds per batch); materialised, they get an automatic index.
    sets = (
        "JOIN (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS aset "
        "FROM json_each(%s) LIMIT -1) AS m ON m.id = r.id"
    )
    return sets, (json.dumps(list(zip(response_ids, set_ids, strict=True))),)


def _batch_scope(
    organization_id: int, response_ids: Sequence[int], set_ids: Sequence[int]
) -> _Scope:
    sql, ids = _id_list("r.id", response_ids)
    sets, set_params = _sets_by_response(response_ids, set_ids)
    return _Scope(
        organization_id,
        f"r.organization_id = %s AND {sql}",
        (organization_id, ids),
        sets,
        set_params,
        by_response=True,
    )


def _journey_scope(organization_id: int, questionnaire_ids: Sequence[int]) -> _Scope:
    """Every response to the questionnaires. On PostgreSQL the responses are matched to their
    sets by segment (a journey has tens or hundreds of distinct segments, not one per
    response); SQLite gets one pair per response."""
    sql, ids = _id_list("r.questionnaire_id", questionnaire_ids)
    where = f"r.organization_id = %s AND {sql}"
    params = (organization_id, ids)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT DISTINCT r.segment::text FROM {_RESPONSE} r WHERE {where}",  # noqa: S608
                params,
            )
            segments = [text for (text,) in cursor.fetchall()]
            set_ids = _attribute_sets(organization_id, [json.loads(text) for text in segments])
            mapping = [
                {"segment": text, "aset": set_id}
                for text, set_id in zip(segments, set_ids, strict=True)
            ]
            sets = (
                "JOIN jsonb_to_recordset(%s::jsonb) AS m(segment text, aset bigint) "
                "ON m.segment = r.segment::text"
            )
            return _Scope(organization_id, where, params, sets, (json.dumps(mapping),))
        cursor.execute(f"SELECT r.id, r.segment FROM {_RESPONSE} r WHERE {where}", params)  # noqa: S608
        rows = cursor.fetchall()
    response_ids = [response_id for response_id, _segment in rows]
    set_ids = _attribute_sets(organization_id, [json.loads(segment) for _id, segment in rows])
    sets, set_params = _sets_by_response(response_ids, set_ids)
    return _Scope(organization_id, where, params, sets, set_params)


def _float() -> str:
    return "double precision" if connection.vendor == "postgresql" else "REAL"


# A dimension item of a touchpoint: its answers make up the touchpoint score (SCORING.md 4).
_SCORED = f"i.kind = '{ItemKind.RATING}' AND i.touchpoint_id IS NOT NULL AND i.dimension <> ''"


def _answers(scope: _Scope, *, materialized: bool = True) -> str:
    """`ans`: the scaled answers with a value of the responses in scope, with what every
    aggregate needs: the response's cell, the item, the raw value and the normalised score
    100 * (x - lo) / (hi - lo) (an exact integer numerator, one floating-point division).
    `part` says what else the answer feeds: 1 the score of touchpoint `touchpoint_id` (a
    dimension item of it), 2 NPS, 3 overall satisfaction, 0 nothing. The response's columns
    ride along on every answer: joining two grouped CTEs later would be planned blind."""
    scaled = ", ".join(f"'{kind}'" for kind in _SCALED)
    postgresql = connection.vendor == "postgresql"
    materialize = "MATERIALIZED " if postgresql and materialized else ""
    if scope.by_response and postgresql:
        # Each response's answers through the answers' index (LATERAL; OFFSET 0 keeps the
        # planner from flattening it into a plain join, which it plans as a scan of the whole
        # answers table for every batch: a cost that grows with everything ever stored).
        answers = (
            f"CROSS JOIN LATERAL (SELECT a.item_id, a.value FROM {_ANSWER} a "  # noqa: S608
            f"WHERE a.response_id = r.id AND a.value IS NOT NULL AND NOT a.not_applicable "
            f"OFFSET 0) a"
        )
    else:
        answers = (
            f"JOIN {_ANSWER} a ON a.response_id = r.id AND a.value IS NOT NULL "
            f"AND NOT a.not_applicable"
        )
    return (
        f"ans AS {materialize}(SELECT r.id AS response_id, r.organization_id, "  # noqa: S608
        f"r.questionnaire_id, r.version_id, r.audience, m.aset AS attribute_set_id, "
        f"r.submitted_on AS day, q.journey_id, a.item_id, a.value, "
        f"CAST((a.value - i.scale_lo) * 100 AS {_float()}) / (i.scale_hi - i.scale_lo) AS s, "
        f"CASE WHEN {_SCORED} THEN i.touchpoint_id END AS touchpoint_id, "
        f"CASE WHEN {_SCORED} THEN 1 WHEN i.kind = '{ItemKind.NPS}' THEN 2 "
        f"WHEN i.kind = '{ItemKind.OVERALL}' THEN 3 ELSE 0 END AS part "
        f"FROM {_RESPONSE} r {scope.sets} {answers} "
        f"JOIN {_ITEM} i ON i.id = a.item_id JOIN {_QUESTIONNAIRE} q ON q.id = r.questionnaire_id "
        f"WHERE {scope.sql} AND i.kind IN ({scaled}) AND i.scale_hi > i.scale_lo)"
    )


_ITEM_DAY_KEY = (
    "organization_id, questionnaire_id, item_key, audience, attribute_set_id, day, scale_lo, "
    "scale_hi, value"
)
_ITEM_TOTAL_KEY = (
    "organization_id, questionnaire_id, item_key, audience, day, scale_lo, scale_hi, value"
)
_TOUCHPOINT_DAY_KEY = (
    "organization_id, questionnaire_id, touchpoint_id, audience, attribute_set_id, day"
)
_TOUCHPOINT_TOTAL_KEY = "organization_id, questionnaire_id, touchpoint_id, audience, day"
_PAIR_KEY = "organization_id, questionnaire_id, touchpoint_id, day, score, outcome"
_SET_PAIR_KEY = (
    "organization_id, questionnaire_id, touchpoint_id, attribute_set_id, month, score, outcome"
)
_TOUCHPOINT_SPAN_KEY = (
    "organization_id, questionnaire_id, touchpoint_id, audience, attribute_set_id, span, start"
)
_SPAN_KEY = "organization_id, questionnaire_id, touchpoint_id, span, start, score, outcome"
_ITEM_SPAN_COLUMNS = (
    "organization_id, questionnaire_id, item_key, attribute_set_id, scale_lo, scale_hi, value"
)
_ITEM_SPAN_KEY = (
    "organization_id, questionnaire_id, item_key, attribute_set_id, span, start, scale_lo, "
    "scale_hi, value"
)
_SET_SPAN_KEY = (
    "organization_id, questionnaire_id, touchpoint_id, attribute_set_id, span, start, score, "
    "outcome"
)
# The journey, attribute and bucket first: the reads' index is this key's (no other index to
# keep up in every batch).
_VALUE_SPAN_KEY = (
    "journey_id, attribute, span, start, value, organization_id, questionnaire_id, "
    "touchpoint_id, score, outcome"
)

# Counts per raw value per (questionnaire, item key, audience, attribute set, day, scale):
# first per item (narrow keys), then per key (twins and versions share keys). Rows go in key
# order, so that concurrent batches lock them in the same order.
_ITEM_COUNTS = (
    "counted AS (SELECT organization_id, questionnaire_id, audience, attribute_set_id, day, "
    "item_id, value, COUNT(*) AS n, MAX(journey_id) AS journey_id FROM ans "
    "GROUP BY organization_id, questionnaire_id, audience, attribute_set_id, day, item_id, value)"
)
_ITEM_DAYS_INSERT = (
    f'INSERT INTO {_ITEM_DAY} ({_ITEM_DAY_KEY}, "count", journey_id, kind, touchpoint_id, '  # noqa: S608
    f"dimension) "
    f"SELECT c.organization_id, c.questionnaire_id, i.key, c.audience, c.attribute_set_id, "
    f"c.day, i.scale_lo, i.scale_hi, c.value, SUM(c.n), MAX(c.journey_id), MAX(i.kind), "
    f"MAX(i.touchpoint_id), MAX(i.dimension) FROM counted c JOIN {_ITEM} i ON i.id = c.item_id "
    f"WHERE true GROUP BY c.organization_id, c.questionnaire_id, i.key, c.audience, "
    f"c.attribute_set_id, c.day, i.scale_lo, i.scale_hi, c.value "
    f"ORDER BY c.organization_id, c.questionnaire_id, i.key, c.audience, c.attribute_set_id, "
    f"c.day, i.scale_lo, i.scale_hi, c.value "
    f"ON CONFLICT ({_ITEM_DAY_KEY}) "
    f'DO UPDATE SET "count" = {_ITEM_DAY}."count" + excluded."count"'
)
_ITEM_TOTALS_INSERT = (
    f'INSERT INTO {_ITEM_TOTAL} ({_ITEM_TOTAL_KEY}, "count", journey_id) '  # noqa: S608
    f"SELECT c.organization_id, c.questionnaire_id, i.key, c.audience, c.day, i.scale_lo, "
    f"i.scale_hi, c.value, SUM(c.n), MAX(c.journey_id) "
    f"FROM counted c JOIN {_ITEM} i ON i.id = c.item_id "
    f"WHERE true GROUP BY c.organization_id, c.questionnaire_id, i.key, c.audience, c.day, "
    f"i.scale_lo, i.scale_hi, c.value "
    f"ORDER BY c.organization_id, c.questionnaire_id, i.key, c.audience, c.day, i.scale_lo, "
    f"i.scale_hi, c.value "
    f"ON CONFLICT ({_ITEM_TOTAL_KEY}) "
    f'DO UPDATE SET "count" = {_ITEM_TOTAL}."count" + excluded."count"'
)

# `per`: each respondent's touchpoint scores (the mean over the touchpoint's dimension items
# answered) and outcome: NPS where the response's version asks it, else overall satisfaction
# (the organisation's versions asking NPS: one small hashed subquery, whatever the row count).
# `grouped` has one row per response and touchpoint, and one (touchpoint NULL) with the
# response's NPS and overall answers, joined back to its touchpoint rows. The response's own
# columns are grouping keys (one value per response), which keeps each group's state small.
_GROUPED = (
    "grouped AS (SELECT response_id, touchpoint_id, organization_id, journey_id, "
    "questionnaire_id, version_id, audience, attribute_set_id, day, "
    "SUM(s) / COUNT(*) AS score, "
    "MAX(CASE WHEN part = 2 THEN s END) AS nps, MAX(CASE WHEN part = 3 THEN s END) AS overall "
    "FROM ans WHERE part > 0 GROUP BY response_id, touchpoint_id, organization_id, journey_id, "
    "questionnaire_id, version_id, audience, attribute_set_id, day)"
)
_PER = (
    "per AS (SELECT g.response_id, g.organization_id, g.journey_id, g.questionnaire_id, "  # noqa: S608
    "g.audience, g.attribute_set_id, g.day, g.touchpoint_id, g.score, "
    f"CASE WHEN g.version_id IN (SELECT iv.version_id FROM {_ITEM} iv "
    f"WHERE iv.organization_id = %s AND iv.audience = '{_CUSTOMER}' "
    f"AND iv.kind = '{ItemKind.NPS}') THEN o.nps ELSE o.overall END AS outcome "
    "FROM grouped g LEFT JOIN grouped o ON o.response_id = g.response_id "
    "AND o.touchpoint_id IS NULL WHERE g.touchpoint_id IS NOT NULL)"
)
_RESPONDENT_CTES = f"{_GROUPED}, {_PER}"
# Moments of the touchpoint scores per cell (both audiences), for the per-set rows and their
# rollup.
_MOMENTS = (
    f"moments AS (SELECT {_TOUCHPOINT_DAY_KEY}, COUNT(*) AS n, SUM(score) AS total, "  # noqa: S608
    f"SUM(score * score) AS total_sq, MAX(journey_id) AS journey_id FROM per "
    f"GROUP BY {_TOUCHPOINT_DAY_KEY})"
)

_RESPONDENTS_INSERT = (
    f"INSERT INTO {_RESPONDENT} (organization_id, response_id, journey_id, "  # noqa: S608
    f"questionnaire_id, touchpoint_id, attribute_set_id, day, score, outcome) "
    f"SELECT organization_id, response_id, journey_id, questionnaire_id, touchpoint_id, "
    f"attribute_set_id, day, score, outcome FROM per WHERE audience = '{_CUSTOMER}'"
)


# The same pairs per attribute set and month, week and quarter, what derived importance under
# a segment reads for the buckets inside its period (`selectors.pair_counts_by_set`): counted
# per week (PairSpan.WEEK: days 1-7, 8-14, 15-21, 22-end of a month), the months summed from
# the weeks and the quarters from the months, as they nest.
def _week(day: str) -> str:
    """The first day of the week (PairSpan.WEEK) of the date column `day`."""
    if connection.vendor == "postgresql":
        return (
            f"(CAST(date_trunc('month', {day}) AS date) "
            f"+ LEAST(21, (CAST(EXTRACT(DAY FROM {day}) AS integer) - 1) / 7 * 7))"
        )
    # ISO text on SQLite, as Django stores dates.
    return (
        f"date({day}, 'start of month', '+' || MIN(21, "
        f"(CAST(substr({day}, 9, 2) AS integer) - 1) / 7 * 7) || ' days')"
    )


def _month(day: str) -> str:
    """The first day of the month of the date column `day`."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', {day}) AS date)"
    return f"date({day}, 'start of month')"


def _quarter(day: str) -> str:
    """The first day of the calendar quarter of the date column `day`."""
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('quarter', {day}) AS date)"
    return (
        f"date({day}, 'start of month', '-' || "
        # (month - 1) mod 3, without a % sign (a parameter marker's escape in Django's SQL).
        f"((CAST(substr({day}, 6, 2) AS integer) - 1) "
        f"- (CAST(substr({day}, 6, 2) AS integer) - 1) / 3 * 3) || ' months')"
    )


_SET_COLUMNS = "organization_id, questionnaire_id, touchpoint_id, attribute_set_id"
_BUCKETS = ((PairSpan.WEEK, _week), (PairSpan.MONTH, _month), (PairSpan.QUARTER, _quarter))


def _per_span(source: str, key: str, sums: str, buckets: Iterable[Any] = _BUCKETS) -> str:
    """`source`'s daily rows summed per week, month and quarter (`span`, `start`; or per the
    `buckets` given): grouped by `key` and the bucket, `sums` the summed columns."""
    return " UNION ALL ".join(
        f"SELECT {key}, '{span}' AS span, {bucket('day')} AS start, {sums}, "  # noqa: S608
        f"MAX(journey_id) AS journey_id FROM {source} GROUP BY {key}, {bucket('day')}"
        for span, bucket in buckets
    )


def _set_pair_ctes(materialize: str) -> str:
    """set_week_rows (from `per`), set_pair_rows (the months, from the weeks) and set_span_rows
    (the weeks and the quarters, from the months, as ImportancePairSetSpanCount holds them);
    span_pair_rows, the same over the sets per week, month and quarter (ImportancePairSpanCount),
    from the days' `pair_rows`."""
    week, month, quarter = _week("day"), _month("start"), _quarter("month")
    over_sets = _per_span(
        "pair_rows",
        "organization_id, questionnaire_id, touchpoint_id, score, outcome",
        'CAST(SUM("count") AS bigint) AS "count"',
    )
    return (
        f"span_pair_rows AS ({over_sets}), "  # noqa: S608
        f"set_week_rows AS {materialize}(SELECT {_SET_COLUMNS}, {week} AS start, "
        f'score, outcome, COUNT(*) AS "count", MAX(journey_id) AS journey_id FROM per '
        f"WHERE audience = '{_CUSTOMER}' AND outcome IS NOT NULL "
        f"GROUP BY {_SET_COLUMNS}, {week}, score, outcome), "
        f"set_pair_rows AS {materialize}(SELECT {_SET_COLUMNS}, {month} AS month, score, "
        f'outcome, CAST(SUM("count") AS bigint) AS "count", MAX(journey_id) AS journey_id '
        f"FROM set_week_rows GROUP BY {_SET_COLUMNS}, {month}, score, outcome), "
        f"set_span_rows AS (SELECT {_SET_COLUMNS}, '{PairSpan.WEEK}' AS span, start, score, "
        f'outcome, "count", journey_id FROM set_week_rows UNION ALL '
        f"SELECT {_SET_COLUMNS}, '{PairSpan.QUARTER}', {quarter}, score, outcome, "
        f'CAST(SUM("count") AS bigint), MAX(journey_id) FROM set_pair_rows '
        f"GROUP BY {_SET_COLUMNS}, {quarter}, score, outcome), "
        f"{_value_pair_ctes(materialize)}"
    )


def _value_pair_ctes(materialize: str) -> str:
    """value_span_rows: set_pair_rows summed per value of each attribute of the sets (string
    values within ImportancePairValueSpanCount's bounds), as that table holds them. Months only:
    its quarters as well cost the drain ~7% (a batch's ~3.3k more rows to sort and upsert), and
    a read of a segment's quarter from its value's three months is still small."""
    if connection.vendor == "postgresql":
        values = (
            "CROSS JOIN LATERAL jsonb_each(s.\"values\") a WHERE jsonb_typeof(a.value) = 'string'"
        )
        value = "(a.value #>> '{}')"
    else:
        values = "JOIN json_each(s.\"values\") a WHERE a.type = 'text'"
        value = "a.value"
    return (
        f"value_span_rows AS {materialize}(SELECT r.organization_id, r.questionnaire_id, "  # noqa: S608
        f"r.touchpoint_id, a.key AS attribute, {value} AS value, '{PairSpan.MONTH}' AS span, "
        f'r.month AS start, r.score, r.outcome, CAST(SUM(r."count") AS bigint) AS "count", '
        f"MAX(r.journey_id) AS journey_id "
        f"FROM set_pair_rows r JOIN {_ATTRIBUTE_SET} s ON s.id = r.attribute_set_id {values} "
        f"AND length(a.key) <= {VALUE_SLICE_NAME_MAX} "
        f"AND length({value}) <= {VALUE_SLICE_VALUE_MAX} "
        f"GROUP BY r.organization_id, r.questionnaire_id, r.touchpoint_id, a.key, {value}, "
        f"r.month, r.score, r.outcome)"
    )


def _moment_spans() -> str:
    """moment_spans: the touchpoint moments (`moments`, per day) per week, month and quarter,
    as TouchpointSpanAggregate holds them."""
    parts = _per_span(
        "moments",
        "organization_id, questionnaire_id, touchpoint_id, audience, attribute_set_id",
        "SUM(n) AS n, SUM(total) AS total, SUM(total_sq) AS total_sq",
    )
    return f"moment_spans AS ({parts})"


# The item counts per key, audience, set and day, as ItemDayCount holds them (a batch's or a
# rescoring's `counted` grouped by item key: twins and versions share keys).
_ITEM_ROWS = (
    "item_rows AS (SELECT c.organization_id, c.questionnaire_id, i.key AS item_key, "  # noqa: S608
    "c.audience, c.attribute_set_id, c.day, i.scale_lo, i.scale_hi, c.value, "
    'SUM(c.n) AS "count", MAX(c.journey_id) AS journey_id, MAX(i.kind) AS kind, '
    "MAX(i.touchpoint_id) AS touchpoint_id, MAX(i.dimension) AS dimension "
    f"FROM counted c JOIN {_ITEM} i ON i.id = c.item_id "
    "GROUP BY c.organization_id, c.questionnaire_id, i.key, c.audience, c.attribute_set_id, "
    "c.day, i.scale_lo, i.scale_hi, c.value)"
)


def _item_spans() -> str:
    """item_spans: the customers' item counts per set and month, as ItemSpanCount holds them,
    straight from `counted` (a batch's or a rescoring's answers per item, set, day and value).
    Months only: each bucket kept costs the batch an upsert of its item rows (weeks and
    quarters too took the drain from 27% to 23% of the baseline's rate)."""
    customers = (
        f"(SELECT c.organization_id, c.questionnaire_id, i.key AS item_key, "  # noqa: S608
        f'c.attribute_set_id, c.day, i.scale_lo, i.scale_hi, c.value, c.n AS "count", '
        f"c.journey_id FROM counted c JOIN {_ITEM} i ON i.id = c.item_id "
        f"WHERE c.audience = '{_CUSTOMER}') customer_items"
    )
    months = [(span, bucket) for span, bucket in _BUCKETS if span == PairSpan.MONTH]
    parts = _per_span(
        customers, _ITEM_SPAN_COLUMNS, 'CAST(SUM("count") AS bigint) AS "count"', months
    )
    return f"item_spans AS ({parts})"


_ITEM_SPANS_INSERT = (
    f'INSERT INTO {_ITEM_SPANS} ({_ITEM_SPAN_KEY}, "count", journey_id) '  # noqa: S608
    f'SELECT {_ITEM_SPAN_KEY}, "count", journey_id FROM item_spans WHERE true '
    f"ORDER BY {_ITEM_SPAN_KEY} "
    f'ON CONFLICT ({_ITEM_SPAN_KEY}) DO UPDATE SET "count" = {_ITEM_SPANS}."count" + '
    f'excluded."count"'
)

_TOUCHPOINT_SPANS_INSERT = (
    f"INSERT INTO {_TOUCHPOINT_SPANS} ({_TOUCHPOINT_SPAN_KEY}, n, total, total_sq, journey_id) "  # noqa: S608
    f"SELECT {_TOUCHPOINT_SPAN_KEY}, n, total, total_sq, journey_id FROM moment_spans "
    f"WHERE true ORDER BY {_TOUCHPOINT_SPAN_KEY} "
    f"ON CONFLICT ({_TOUCHPOINT_SPAN_KEY}) DO UPDATE SET "
    f"n = {_TOUCHPOINT_SPANS}.n + excluded.n, "
    f"total = {_TOUCHPOINT_SPANS}.total + excluded.total, "
    f"total_sq = {_TOUCHPOINT_SPANS}.total_sq + excluded.total_sq"
)
_TOUCHPOINT_DAYS_INSERT = (
    f"INSERT INTO {_TOUCHPOINT_DAY} ({_TOUCHPOINT_DAY_KEY}, n, total, total_sq, journey_id) "  # noqa: S608
    f"SELECT {_TOUCHPOINT_DAY_KEY}, n, total, total_sq, journey_id FROM moments WHERE true "
    f"ORDER BY {_TOUCHPOINT_DAY_KEY} "
    f"ON CONFLICT ({_TOUCHPOINT_DAY_KEY}) DO UPDATE SET "
    f"n = {_TOUCHPOINT_DAY}.n + excluded.n, "
    f"total = {_TOUCHPOINT_DAY}.total + excluded.total, "
    f"total_sq = {_TOUCHPOINT_DAY}.total_sq + excluded.total_sq"
)
_TOUCHPOINT_TOTALS_INSERT = (
    f"INSERT INTO {_TOUCHPOINT_TOTAL} ({_TOUCHPOINT_TOTAL_KEY}, n, total, total_sq, "  # noqa: S608
    f"journey_id) "
    f"SELECT {_TOUCHPOINT_TOTAL_KEY}, SUM(n), SUM(total), SUM(total_sq), MAX(journey_id) "
    f"FROM moments WHERE true GROUP BY {_TOUCHPOINT_TOTAL_KEY} "
    f"ORDER BY {_TOUCHPOINT_TOTAL_KEY} "
    f"ON CONFLICT ({_TOUCHPOINT_TOTAL_KEY}) DO UPDATE SET "
    f"n = {_TOUCHPOINT_TOTAL}.n + excluded.n, "
    f"total = {_TOUCHPOINT_TOTAL}.total + excluded.total, "
    f"total_sq = {_TOUCHPOINT_TOTAL}.total_sq + excluded.total_sq"
)


# The importance pairs (per day, and per set and month) are counted in CTEs of their own and
# only the counted rows are sorted into key order for the upserts. On PostgreSQL the CTEs are
# materialised and hashed (see `_aggregate`).
def _pair_ctes() -> str:
    materialize = "MATERIALIZED " if connection.vendor == "postgresql" else ""
    return (
        f'pair_rows AS {materialize}(SELECT {_PAIR_KEY}, COUNT(*) AS "count", '  # noqa: S608
        f"MAX(journey_id) AS journey_id FROM per WHERE audience = '{_CUSTOMER}' "
        f"AND outcome IS NOT NULL GROUP BY {_PAIR_KEY}), "
        f"{_set_pair_ctes(materialize)}"
    )


_PAIRS_INSERT = (
    f'INSERT INTO {_PAIRS} ({_PAIR_KEY}, "count", journey_id) '  # noqa: S608
    f'SELECT {_PAIR_KEY}, "count", journey_id FROM pair_rows WHERE true ORDER BY {_PAIR_KEY} '
    f'ON CONFLICT ({_PAIR_KEY}) DO UPDATE SET "count" = {_PAIRS}."count" + excluded."count"'
)
_SET_PAIRS_INSERT = (
    f'INSERT INTO {_SET_PAIRS} ({_SET_PAIR_KEY}, "count", journey_id) '  # noqa: S608
    f'SELECT {_SET_PAIR_KEY}, "count", journey_id FROM set_pair_rows WHERE true '
    f"ORDER BY {_SET_PAIR_KEY} "
    f'ON CONFLICT ({_SET_PAIR_KEY}) DO UPDATE SET "count" = {_SET_PAIRS}."count" + '
    f'excluded."count"'
)
_SPANS_INSERT = (
    f'INSERT INTO {_SPANS} ({_SPAN_KEY}, "count", journey_id) '  # noqa: S608
    f'SELECT {_SPAN_KEY}, "count", journey_id FROM span_pair_rows WHERE true '
    f"ORDER BY {_SPAN_KEY} "
    f'ON CONFLICT ({_SPAN_KEY}) DO UPDATE SET "count" = {_SPANS}."count" + excluded."count"'
)


def _value_spans_insert() -> str:
    """The upsert of value_span_rows into ImportancePairValueSpanCount, in key order (as every
    upsert here: concurrent batches lock rows in the same order). On PostgreSQL the text
    columns are ordered bytewise (COLLATE "C"), which is cheaper than by the database's
    collation, and the same order every time."""
    order = _VALUE_SPAN_KEY
    if connection.vendor == "postgresql":
        order = ", ".join(
            f'{column} COLLATE "C"' if column in ("attribute", "span", "value") else column
            for column in _columns(_VALUE_SPAN_KEY)
        )
    return (
        f'INSERT INTO {_VALUE_SPANS} ({_VALUE_SPAN_KEY}, "count") '  # noqa: S608
        f'SELECT {_VALUE_SPAN_KEY}, "count" FROM value_span_rows WHERE true ORDER BY {order} '
        f'ON CONFLICT ({_VALUE_SPAN_KEY}) DO UPDATE SET "count" = {_VALUE_SPANS}."count" + '
        f'excluded."count"'
    )


_SET_SPANS_INSERT = (
    f'INSERT INTO {_SET_SPANS} ({_SET_SPAN_KEY}, "count", journey_id) '  # noqa: S608
    f'SELECT {_SET_SPAN_KEY}, "count", journey_id FROM set_span_rows WHERE true '
    f"ORDER BY {_SET_SPAN_KEY} "
    f'ON CONFLICT ({_SET_SPAN_KEY}) DO UPDATE SET "count" = {_SET_SPANS}."count" + '
    f'excluded."count"'
)


def _aggregate(cursor: Any, scope: _Scope) -> None:
    """Add the responses in scope to the aggregates: ItemDayCount, RespondentScore and
    TouchpointDayAggregate per attribute set, the touchpoint moments per set and week, month or
    quarter (TouchpointSpanAggregate), the customers' item counts per set and month
    (ItemSpanCount), the importance pairs per set and month, week or quarter
    (ImportancePairSetMonthCount, ImportancePairSetSpanCount) and per attribute value and month
    (ImportancePairValueSpanCount), and the rollups over the sets
    (ItemDayTotal, TouchpointDayTotal, ImportancePairDayCount and ImportancePairSpanCount).

    PostgreSQL does it in one statement that reads the answers once (data-modifying CTEs);
    SQLite has none and takes one statement per table.
    """
    ctes = _answers(scope)
    params = (*scope.set_params, *scope.params)
    with_organization = (*params, scope.organization_id)
    if connection.vendor == "postgresql":
        # Every grouping hashed: the CTEs' row estimates are guesses (a few rows for tens of
        # thousands), with which the planner sorts a batch's respondent rows to group them;
        # the upserts' ORDER BY still sorts their (fewer) grouped rows.
        with _setting(cursor, "enable_sort", "off"):
            cursor.execute(
                f"WITH {ctes}, {_ITEM_COUNTS}, "
                f"item_days AS ({_ITEM_DAYS_INSERT} RETURNING 1), "
                f"item_totals AS ({_ITEM_TOTALS_INSERT} RETURNING 1), "
                f"{_item_spans()}, item_span_counts AS ({_ITEM_SPANS_INSERT} RETURNING 1), "
                f"{_RESPONDENT_CTES}, respondents AS ({_RESPONDENTS_INSERT} RETURNING 1), "
                f"{_pair_ctes()}, pairs AS ({_PAIRS_INSERT} RETURNING 1), "
                f"set_pairs AS ({_SET_PAIRS_INSERT} RETURNING 1), "
                f"set_spans AS ({_SET_SPANS_INSERT} RETURNING 1), "
                f"value_spans AS ({_value_spans_insert()} RETURNING 1), "
                f"spans AS ({_SPANS_INSERT} RETURNING 1), {_MOMENTS}, {_moment_spans()}, "
                f"touchpoint_spans AS ({_TOUCHPOINT_SPANS_INSERT} RETURNING 1), "
                f"touchpoint_days AS ({_TOUCHPOINT_DAYS_INSERT} RETURNING 1) "
                f"{_TOUCHPOINT_TOTALS_INSERT}",
                with_organization,
            )
        return
    for insert in (_ITEM_DAYS_INSERT, _ITEM_TOTALS_INSERT):
        cursor.execute(f"WITH {ctes}, {_ITEM_COUNTS} {insert}", params)
    cursor.execute(
        f"WITH {ctes}, {_ITEM_COUNTS}, {_item_spans()} {_ITEM_SPANS_INSERT}",
        params,
    )
    cursor.execute(f"WITH {ctes}, {_RESPONDENT_CTES} {_RESPONDENTS_INSERT}", with_organization)
    for insert in (
        _PAIRS_INSERT,
        _SET_PAIRS_INSERT,
        _SET_SPANS_INSERT,
        _value_spans_insert(),
        _SPANS_INSERT,
    ):
        cursor.execute(
            f"WITH {ctes}, {_RESPONDENT_CTES}, {_pair_ctes()} {insert}", with_organization
        )
    for insert in (_TOUCHPOINT_DAYS_INSERT, _TOUCHPOINT_TOTALS_INSERT):
        cursor.execute(f"WITH {ctes}, {_RESPONDENT_CTES}, {_MOMENTS} {insert}", with_organization)
    cursor.execute(
        f"WITH {ctes}, {_RESPONDENT_CTES}, {_MOMENTS}, {_moment_spans()} "
        f"{_TOUCHPOINT_SPANS_INSERT}",
        with_organization,
    )


# --- a rescoring's statements (PostgreSQL) -----------------------------------------------------
#
# A rescoring computes every aggregate row of the journey afresh, as the batches would, and
# then writes only the difference: rows whose figures changed are updated, new rows inserted,
# rows no longer produced deleted. The result is the same as deleting the journey's rows and
# inserting the new ones (what SQLite does), without rewriting (and re-indexing) the rows that
# came out the same, which after a correct incremental history is all of them.

_REBUILD_ROWS = (
    f"{_ITEM_ROWS}, {_item_spans()}, "  # noqa: S608
    f'item_total_rows AS (SELECT {_ITEM_TOTAL_KEY}, SUM("count") AS "count", '
    f"MAX(journey_id) AS journey_id FROM item_rows GROUP BY {_ITEM_TOTAL_KEY}), "
    # Read twice (its diff and the pairs): inlined, not copied into a CTE's store.
    "respondent_rows AS NOT MATERIALIZED (SELECT organization_id, response_id, journey_id, "
    "questionnaire_id, touchpoint_id, attribute_set_id, day, score, outcome FROM per "
    f"WHERE audience = '{_CUSTOMER}'), "
    f'pair_rows AS (SELECT {_PAIR_KEY}, COUNT(*) AS "count", MAX(journey_id) AS journey_id '
    f"FROM respondent_rows WHERE outcome IS NOT NULL GROUP BY {_PAIR_KEY}), "
    "{set_pair_ctes}, "
    f"moment_totals AS (SELECT {_TOUCHPOINT_TOTAL_KEY}, SUM(n) AS n, SUM(total) AS total, "
    f"SUM(total_sq) AS total_sq, MAX(journey_id) AS journey_id FROM moments "
    f"GROUP BY {_TOUCHPOINT_TOTAL_KEY}), "
    "{moment_spans}"
)

# (table, key columns, the other columns, the CTE with its new rows)
_REBUILT = (
    (_ITEM_DAY, _ITEM_DAY_KEY, '"count", journey_id, kind, touchpoint_id, dimension', "item_rows"),
    (_ITEM_TOTAL, _ITEM_TOTAL_KEY, '"count", journey_id', "item_total_rows"),
    (
        _RESPONDENT,
        "response_id, touchpoint_id",
        "organization_id, journey_id, questionnaire_id, attribute_set_id, day, score, outcome",
        "respondent_rows",
    ),
    (_PAIRS, _PAIR_KEY, '"count", journey_id', "pair_rows"),
    (_SET_PAIRS, _SET_PAIR_KEY, '"count", journey_id', "set_pair_rows"),
    (_SET_SPANS, _SET_SPAN_KEY, '"count", journey_id', "set_span_rows"),
    (_VALUE_SPANS, _VALUE_SPAN_KEY, '"count"', "value_span_rows"),
    (_SPANS, _SPAN_KEY, '"count", journey_id', "span_pair_rows"),
    (_TOUCHPOINT_DAY, _TOUCHPOINT_DAY_KEY, "n, total, total_sq, journey_id", "moments"),
    (_TOUCHPOINT_TOTAL, _TOUCHPOINT_TOTAL_KEY, "n, total, total_sq, journey_id", "moment_totals"),
    (_TOUCHPOINT_SPANS, _TOUCHPOINT_SPAN_KEY, "n, total, total_sq, journey_id", "moment_spans"),
    (_ITEM_SPANS, _ITEM_SPAN_KEY, '"count", journey_id', "item_spans"),
)


def _columns(names: str) -> list[str]:
    return [name.strip() for name in names.split(",")]


def _rewrite(index: int, table: str, key: str, others: str, rows: str, journey_id: int) -> str:
    """Three CTEs: the difference between the new rows and the journey's stored ones (a full
    hash join on the key, which is never NULL), the upsert of the new rows that differ and the
    delete of the stored rows no new row matches.

    Rows that came out the same are neither written nor locked (an upsert's ON CONFLICT locks
    every row it meets, even when its WHERE then leaves the row alone)."""
    keys = _columns(key)
    values = _columns(others)
    stored = ", ".join(f"t.{column}" for column in values)
    fresh = ", ".join(f"n.{column}" for column in values)
    matches = " AND ".join(f"n.{column} = t.{column}" for column in keys)
    assignments = ", ".join(f"{column} = excluded.{column}" for column in values)
    new_columns = ", ".join(f"n.{column}" for column in (*keys, *values))
    return (
        f"diff_{index} AS MATERIALIZED (SELECT t.id AS stored_id, {new_columns} "  # noqa: S608
        f"FROM {rows} n FULL JOIN (SELECT * FROM {table} WHERE journey_id = {int(journey_id)}) t "
        f"ON {matches} WHERE t.id IS NULL OR n.{keys[0]} IS NULL "
        f"OR ({stored}) IS DISTINCT FROM ({fresh})), "
        f"written_{index} AS (INSERT INTO {table} ({key}, {others}) "
        f"SELECT {key}, {others} FROM diff_{index} WHERE {keys[0]} IS NOT NULL ORDER BY {key} "
        f"ON CONFLICT ({key}) DO UPDATE SET {assignments} RETURNING 1), "
        f"deleted_{index} AS (DELETE FROM {table} t USING diff_{index} d "
        f"WHERE t.id = d.stored_id AND d.{keys[0]} IS NULL RETURNING 1)"
    )


# The two stage tables of a rescoring: the answers counted per cell, item and value, and the
# per-respondent rows (both audiences). Temporary, dropped at commit.
_STAGE_CELLS = "scoring_rescore_cells"
_STAGE_PER = "scoring_rescore_per"
# A rescoring is a rare job over millions of answers: its read of the cells may use parallel
# workers (PostgreSQL runs no data-modifying statement in parallel, but the SELECT of a
# CREATE TABLE ... AS may be). Set for that statement only.
RESCORE_PARALLEL_WORKERS = 2


def _stage_cells(scope: _Scope) -> str:
    """`CREATE TEMP TABLE` of `counted` (as a batch has it) for the whole journey: a plain join
    and GROUP BY, which PostgreSQL aggregates partially in each parallel worker (the baseline
    statement's work, on both cores)."""
    return (
        f"CREATE TEMP TABLE {_STAGE_CELLS} ON COMMIT DROP AS "  # noqa: S608
        f"WITH {_answers(scope, materialized=False)}, {_ITEM_COUNTS} SELECT * FROM counted"
    )


def _stage_per(scope: _Scope, journey_id: int) -> str:
    """`CREATE TEMP TABLE` of `per` (as a batch has it) for the whole journey. Each response's
    answers are read through the answers' index (stored in response order, so the heap is read
    nearly sequentially) and grouped by touchpoint on their own (a LATERAL subquery over a few
    dozen rows), instead of hashing 1.4M (response, touchpoint) groups of the whole journey and
    joining the responses' outcome rows back to them. The outcome (NPS or overall) is the
    response's, over all its groups (a window over the subquery's rows). PostgreSQL 15 runs no
    LATERAL subquery with an aggregate in a parallel worker, so this read is the leader's alone.
    Every response in scope belongs to the journey's questionnaires, hence `journey_id`."""
    scaled = ", ".join(f"'{kind}'" for kind in _SCALED)
    return (
        f"CREATE TEMP TABLE {_STAGE_PER} ON COMMIT DROP AS "  # noqa: S608
        f"SELECT r.id AS response_id, r.organization_id, {int(journey_id)} AS journey_id, "
        f"r.questionnaire_id, "
        f"r.audience, m.aset AS attribute_set_id, r.submitted_on AS day, "
        f"g.touchpoint_id, g.score, "
        f"CASE WHEN r.version_id IN (SELECT iv.version_id FROM {_ITEM} iv "
        f"WHERE iv.organization_id = %s AND iv.audience = '{_CUSTOMER}' "
        f"AND iv.kind = '{ItemKind.NPS}') THEN g.nps ELSE g.overall END AS outcome "
        f"FROM {_RESPONSE} r {scope.sets} "
        f"CROSS JOIN LATERAL (SELECT touchpoint_id, score, MAX(nps) OVER () AS nps, "
        f"MAX(overall) OVER () AS overall FROM (SELECT CASE WHEN {_SCORED} "
        f"THEN i.touchpoint_id END AS touchpoint_id, "
        f"SUM(CAST((a.value - i.scale_lo) * 100 AS {_float()}) / (i.scale_hi - i.scale_lo)) "
        f"/ COUNT(*) AS score, "
        f"MAX(CASE WHEN i.kind = '{ItemKind.NPS}' THEN CAST((a.value - i.scale_lo) * 100 AS "
        f"{_float()}) / (i.scale_hi - i.scale_lo) END) AS nps, "
        f"MAX(CASE WHEN i.kind = '{ItemKind.OVERALL}' THEN CAST((a.value - i.scale_lo) * 100 "
        f"AS {_float()}) / (i.scale_hi - i.scale_lo) END) AS overall "
        f"FROM (SELECT a.item_id, a.value FROM {_ANSWER} a WHERE a.response_id = r.id "
        f"AND a.value IS NOT NULL AND NOT a.not_applicable OFFSET 0) a "
        f"JOIN {_ITEM} i ON i.id = a.item_id WHERE i.kind IN ({scaled}) "
        f"AND i.scale_hi > i.scale_lo "
        f"AND (({_SCORED}) OR i.kind IN ('{ItemKind.NPS}', '{ItemKind.OVERALL}')) "
        f"GROUP BY 1) x) g "
        f"WHERE {scope.sql} AND g.touchpoint_id IS NOT NULL"
    )


@contextmanager
def _setting(cursor: Any, name: str, value: str | int) -> Iterator[None]:
    """PostgreSQL setting `name` = `value` for the statements inside, then back to what it was
    (and with the transaction, or its savepoint, should one fail: SET LOCAL)."""
    cursor.execute("SELECT current_setting(%s)", [name])
    before = str(cursor.fetchone()[0])
    cursor.execute("SELECT set_config(%s, %s, true)", [name, str(value)])
    yield
    cursor.execute("SELECT set_config(%s, %s, true)", [name, before])


def _rebuild(cursor: Any, scope: _Scope, journey_id: int) -> None:
    """Make the journey's aggregates what its responses in scope give (PostgreSQL); see above.

    Two reads fill the stage tables (the cells in parallel workers), then one statement derives
    every aggregate from them and writes the difference. Temporary tables rather than CTEs: the
    planner gets their row counts and statistics, and groups them by hashing (a CTE's estimate
    of a few rows had it sort a million rows for a GROUP BY)."""
    with _setting(cursor, "max_parallel_workers_per_gather", RESCORE_PARALLEL_WORKERS):
        cursor.execute(_stage_cells(scope), (*scope.set_params, *scope.params))
    # Each response's few answers are grouped by touchpoint in a small hash table rather than
    # sorted (200k sorts of ~20 rows cost more).
    with _setting(cursor, "enable_sort", "off"):
        cursor.execute(
            _stage_per(scope, journey_id),
            (scope.organization_id, *scope.set_params, *scope.params),
        )
    # Their statistics (from a small sample): the statement below plans its groupings by them.
    with _setting(cursor, "default_statistics_target", 10):
        cursor.execute(f"ANALYZE {_STAGE_CELLS}, {_STAGE_PER}")
    rewrites = ", ".join(
        _rewrite(index, *target, journey_id) for index, target in enumerate(_REBUILT)
    )
    rebuilt_rows = _REBUILD_ROWS.replace("{set_pair_ctes}", _set_pair_ctes("")).replace(
        "{moment_spans}", _moment_spans()
    )
    cursor.execute(
        f"WITH counted AS NOT MATERIALIZED (SELECT * FROM {_STAGE_CELLS}), "  # noqa: S608
        f"per AS NOT MATERIALIZED (SELECT * FROM {_STAGE_PER}), {_MOMENTS}, "
        f"{rebuilt_rows}, {rewrites} "
        f"SELECT 1"
    )
    cursor.execute(f"DROP TABLE {_STAGE_CELLS}, {_STAGE_PER}")


def _bump_versions(
    cursor: Any,
    organization_id: int,
    questionnaire_ids: Sequence[int],
    *,
    earlier: bool,
    now: datetime,
) -> None:
    """ScoringState.version + 1 for every journey of the questionnaires (those of a batch's
    responses), and its settled_version + 1 too when `earlier` (a response of a day before the
    organisation's today): figures of days before yesterday are cached across batches until
    that changes (`selectors.pair_counts_by_set`). A new state row starts at 1, unlike the 0 a
    reader assumes before there is any. The batch's claim read the questionnaires and days, so
    this reads no response."""
    sql, ids = _id_list("q.id", questionnaire_ids)
    cursor.execute(
        f"INSERT INTO {_STATE} (organization_id, journey_id, version, settled_version, "  # noqa: S608
        f"updated_at) "
        f"SELECT DISTINCT q.organization_id, q.journey_id, 1, 1, %s FROM {_QUESTIONNAIRE} q "
        f"WHERE q.organization_id = %s AND {sql} ORDER BY q.journey_id "
        f"ON CONFLICT (journey_id) DO UPDATE SET version = {_STATE}.version + 1, "
        f"settled_version = {_STATE}.settled_version + %s, "
        f"updated_at = excluded.updated_at",
        (
            connection.ops.adapt_datetimefield_value(now),
            organization_id,
            ids,
            1 if earlier else 0,
        ),
    )


def _mark_processed(cursor: Any, organization_id: int, response_ids: Sequence[int]) -> None:
    """The batch's responses leave the pending table, in one DELETE: counted, never again.

    Nothing records when: an employee response's processing time must not date its answers.
    """
    sql, ids = _id_list("response_id", response_ids)
    cursor.execute(
        f"DELETE FROM {_PENDING} WHERE organization_id = %s AND {sql}",  # noqa: S608
        (organization_id, ids),
    )


def _mark_scope_processed(cursor: Any, scope: _Scope) -> None:
    """The pending rows of every response in scope (a rescoring counts them all)."""
    cursor.execute(
        f"DELETE FROM {_PENDING} WHERE organization_id = %s AND response_id IN "  # noqa: S608
        f"(SELECT r.id FROM {_RESPONSE} r WHERE {scope.sql})",
        (scope.organization_id, *scope.params),
    )


def _tune(work_mem: str, *, synchronous_commit: bool = True) -> None:
    """PostgreSQL settings for this transaction. work_mem: the statements read the answers once
    into a CTE and group them several ways, which the default 4MB sends to disk. A batch may
    commit without waiting for the WAL flush: a commit lost in a database crash takes its
    deletion of the pending rows with it, so they are processed again, nothing is lost or
    counted twice."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{work_mem}'")
            # The batch's reads (the alerts' one above all) are estimated costly enough for
            # PostgreSQL's JIT, whose compilation took seconds per batch for a few ms saved.
            cursor.execute("SET LOCAL jit = off")
            if not synchronous_commit:
                cursor.execute("SET LOCAL synchronous_commit = off")


def _lock(organization_id: int, *, exclusive: bool) -> None:
    """Batches of one organisation share this lock; a rescoring takes it alone, so that it never
    interleaves with a batch (which could otherwise count a response twice).

    SQLite has one writer anyway: a no-op write takes its write lock at once, so two processes
    queue on it instead of failing to upgrade a read lock halfway.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            cursor.execute(f"SELECT {function}(%s)", [_LOCK_NAMESPACE | organization_id])
        else:
            cursor.execute(f"UPDATE {_STATE} SET version = version WHERE 0 = 1")  # noqa: S608


# --- processing -------------------------------------------------------------------------------


def responses_process(*, organization_id: int, limit: int = BATCH_SIZE) -> int:
    """Process one batch: up to `limit` unprocessed responses of the organisation, oldest first.

    Returns how many were processed (0 when none are left or all are claimed by other batches).
    The claim, the increments and the deletion of the pending rows commit together or not at
    all.
    """
    return _process_batch(organization_id, limit, after_id=0)[0]


def _process_batch(organization_id: int, limit: int, *, after_id: int) -> tuple[int, int]:
    """One batch of responses with ids above `after_id`; returns (processed, highest id)."""
    now = timezone.now()
    with transaction.atomic():
        _lock(organization_id, exclusive=False)
        _tune(BATCH_WORK_MEM, synchronous_commit=False)
        claimed = list(
            PendingResponse.objects.for_organization(organization_id)
            .filter(response_id__gt=after_id)
            .order_by("response_id")
            .select_for_update(skip_locked=True, of=("self",))
            # The segment as text (decoded once per distinct segment); the questionnaires, the
            # days and the organisation's time zone (its today) ride along for `_bump_versions`.
            .annotate(segment_text=Cast("response__segment", TextField()))
            .values_list(
                "response_id",
                "segment_text",
                "response__questionnaire_id",
                "response__submitted_on",
                "organization__time_zone",
            )[:limit]
        )
        if not claimed:
            return 0, after_id
        response_ids = [row[0] for row in claimed]
        segments = list(dict.fromkeys(row[1] for row in claimed))
        set_of = dict(
            zip(
                segments,
                _attribute_sets(organization_id, [json.loads(text) for text in segments]),
                strict=True,
            )
        )
        set_ids = [set_of[row[1]] for row in claimed]
        today = today_in(claimed[0][4], now)
        scope = _batch_scope(organization_id, response_ids, set_ids)
        with connection.cursor() as cursor:
            _mark_processed(cursor, organization_id, response_ids)
            _aggregate(cursor, scope)
            alerts_raise_for_responses(organization_id=organization_id, response_ids=response_ids)
            _bump_versions(
                cursor,
                organization_id,
                sorted({row[2] for row in claimed}),
                earlier=min(row[3] for row in claimed) < today,
                now=now,
            )
        webhooks_emit_responses(organization_id=organization_id, response_ids=response_ids)
    return len(claimed), response_ids[-1]


def responses_process_pending(
    *, organization_id: int, limit: int = BATCH_SIZE, time_budget: float = 50.0
) -> tuple[int, bool]:
    """Process batches until none is left or `time_budget` seconds have passed.

    Returns (responses processed, whether the backlog was drained); a caller that gets False
    queues itself again rather than holding a worker for minutes. Each batch starts after the
    previous one's last id (the index entries of responses just processed are not walked again
    and again), and a final batch looks from the start for any left behind (committed out of
    id order, or skipped while another batch held them).
    """
    deadline = time.monotonic() + time_budget
    total = after_id = 0
    while True:
        processed, last_id = _process_batch(organization_id, limit, after_id=after_id)
        total += processed
        if processed < limit:
            if after_id == 0:
                return total, True
            after_id = 0
            continue
        after_id = last_id
        if time.monotonic() >= deadline:
            return total, False


def responses_stale_organizations(
    *, older_than: float = 30.0, now: datetime | None = None
) -> list[int]:
    """Organisations with responses left unprocessed (a pending row) for more than `older_than`
    seconds.

    Customer responses carry their submission time. Employee responses carry only the day, so
    their age is told by the response ids: each call notes the highest id so far, and a later
    call treats every unprocessed response at or below a note older than `older_than` as stale.
    With no notes at all (first run, cache emptied) every unprocessed response counts: queuing
    a little too much costs one message, missing one costs a result.
    """
    now = now or timezone.now()
    limit = now - timedelta(seconds=older_than)
    # The sweeper looks across organisations on purpose.
    top = Response.unscoped.aggregate(top=Max("id"))["top"] or 0
    marks: list[tuple[float, int]] = [tuple(m) for m in cache.get(_SWEEP_MARKS_KEY) or []]
    old_enough = [mark_id for stamp, mark_id in marks if stamp <= limit.timestamp()]
    unprocessed = PendingResponse.unscoped.all()
    if marks:
        condition = Q(response__submitted_at__lte=limit)
        if old_enough:
            condition |= Q(response_id__lte=max(old_enough))
        unprocessed = unprocessed.filter(condition)
    stale = sorted(unprocessed.order_by().values_list("organization_id", flat=True).distinct())
    # Keep the newest note that is old enough and the ones after it.
    kept = [m for m in marks if m[0] > limit.timestamp()]
    if old_enough:
        kept.insert(0, max((m for m in marks if m[0] <= limit.timestamp()), key=lambda m: m[0]))
    kept.append((now.timestamp(), top))
    cache.set(_SWEEP_MARKS_KEY, kept[-_SWEEP_MARKS_KEPT:], timeout=24 * 60 * 60)
    return stale


# --- rescoring --------------------------------------------------------------------------------


def attribute_value_pairs_recount(*, organization_id: int) -> None:
    """Count the organisation's ImportancePairValueSpanCount afresh from its pairs per set and
    month and its attribute sets' values as they are now. A personal-data erasure rewrites an
    address inside the sets' values: this table's text columns are derived from them, part of
    its key and bounded, so they are recounted rather than rewritten in place (two spellings of
    one address become one value; a value that outgrew the table's bound leaves it, and the
    reads then take that attribute per set). Call it inside a transaction: it takes the
    organisation's scoring lock alone, as a rescoring does, so that no batch adds to the rows
    between their delete and their recount."""
    _lock(organization_id, exclusive=True)
    journeys = f"SELECT id FROM {Journey._meta.db_table} WHERE organization_id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_VALUE_SPANS} WHERE journey_id IN ({journeys}) "  # noqa: S608
            "AND organization_id = %s",
            [organization_id, organization_id],
        )
        cursor.execute(
            f"WITH set_pair_rows AS (SELECT {_SET_COLUMNS}, month, score, outcome, "  # noqa: S608
            f'"count", journey_id FROM {_SET_PAIRS} WHERE organization_id = %s), '
            f"{_value_pair_ctes('')} {_value_spans_insert()}",
            [organization_id],
        )


_AGGREGATES = (
    ItemDayCount,
    TouchpointDayAggregate,
    RespondentScore,
    ItemDayTotal,
    TouchpointDayTotal,
    ImportancePairDayCount,
    ImportancePairSetMonthCount,
    ImportancePairSetSpanCount,
    ImportancePairValueSpanCount,
    ImportancePairSpanCount,
    TouchpointSpanAggregate,
    ItemSpanCount,
)


def _journey_of(organization: Organization, journey: Journey | int) -> Journey:
    journey_id = journey if isinstance(journey, int) else journey.pk
    found = Journey.objects.for_organization(organization).filter(pk=journey_id).first()
    if found is None:
        raise NotFound(_("No such journey."))
    return found


def journey_rescore(
    *, organization: Organization, actor: Principal | None, journey: Journey | int
) -> int:
    """Rebuild the journey's aggregates from all its raw answers; returns the responses counted.

    `actor` None is the system (management command). Raises NotFound for a journey of another
    organisation and ValidationFailed (field `journey`) for one without a questionnaire; then
    nothing is changed.
    """
    journey = _journey_of(organization, journey)
    if actor is not None:
        require(actor, Action.JOURNEY_EDIT, journey)
    questionnaire_ids = list(
        Questionnaire.objects.for_organization(organization)
        .filter(journey=journey)
        .values_list("pk", flat=True)
    )
    if not questionnaire_ids:
        raise ValidationFailed(
            _("This journey has no questionnaire, so there is nothing to rescore."),
            fields={"journey": [_("Create a questionnaire for this journey first.")]},
        )
    now = timezone.now()
    responses = Response.objects.for_organization(organization).filter(
        questionnaire_id__in=questionnaire_ids
    )
    with transaction.atomic():
        _lock(organization.pk, exclusive=True)
        _tune(RESCORE_WORK_MEM)
        scope = _journey_scope(organization.pk, questionnaire_ids)
        with connection.cursor() as cursor:
            # Responses never processed are counted here: no batch may count them again.
            _mark_scope_processed(cursor, scope)
            if connection.vendor == "postgresql":
                _rebuild(cursor, scope, journey.pk)
            else:
                for model in _AGGREGATES:
                    model.objects.for_organization(organization).filter(journey=journey).delete()
                _aggregate(cursor, scope)
        state, _created = ScoringState.objects.for_organization(organization).get_or_create(
            journey=journey, defaults={"organization": organization}
        )
        ScoringState.objects.for_organization(organization).filter(pk=state.pk).update(
            version=F("version") + 1,
            settled_version=F("settled_version") + 1,
            rescored_at=now,
            updated_at=now,
        )
        counted = responses.count()
        audit_record(
            organization=organization,
            actor=actor,
            action="journey.rescored",
            target=journey,
            data={"responses": counted},
        )
    return counted

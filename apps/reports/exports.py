"""Exports: responses (one row per response) and scores (the gap report's figures), as CSV or
XLSX, with exact numbers and spreadsheet formulas neutralised.

Employee rows carry no identity: no response id, no day or time, no version, no link, no
language, no duration, and they are not in submission order (shuffled within their staff block),
so that nothing in the file can be joined back to a person. They follow the differencing rule of
every employee figure (apps.scoring.anonymity): whole staff blocks, whole atoms of at least k
employees or none, segment values only as far as the whole atom shares them; else they are left
out altogether.
"""

import csv
import io
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.responses.models import Answer, Response
from apps.scoring.figures import CellStats, GapReport, GapStats, NpsStats
from apps.scoring.filters import ReportFilter
from apps.surveys.models import Audience, Dimension, Item

# A cell starting with one of these is read as a formula by spreadsheet programs (OWASP: CSV
# injection); an apostrophe in front makes it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000

Progress = Callable[[int, int], None]


def neutralise(value: Any) -> Any:
    """Text cells that a spreadsheet would run as a formula get an apostrophe in front; numbers
    stay numbers (a negative gap is not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class Table:
    name: str
    headers: list[str]
    rows: Iterable[Sequence[Any]]


# --- writers ----------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as exactly this double
    return neutralise(value)


def write_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Finnish letters right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def _exact_floats_in_openpyxl() -> None:
    """openpyxl writes numbers with "%.16g", which can change the last digit of a double;
    write the shortest text that reads back as exactly the same double instead (as Excel
    itself does). Only ever more precise, so it is set once for the process."""
    from openpyxl.cell import _writer
    from openpyxl.compat.strings import safe_string

    if getattr(_writer.safe_string, "exact_floats", False):
        return

    def exact_string(value: Any) -> str:
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        return str(safe_string(value))

    exact_string.exact_floats = True  # type: ignore[attr-defined]
    _writer.safe_string = exact_string


def write_xlsx(tables: Sequence[Table]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    _exact_floats_in_openpyxl()

    workbook = Workbook(write_only=True)
    for table in tables:
        sheet = workbook.create_sheet(title=table.name[:31])

        def cell(value: Any, sheet: Any = sheet) -> Any:
            if isinstance(value, str):
                written = WriteOnlyCell(sheet, value=neutralise(value))
                written.data_type = "s"  # never a formula, whatever the text
                return written
            return value

        sheet.append([cell(h) for h in table.headers])
        for row in table.rows:
            sheet.append([cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- responses --------------------------------------------------------------------------------

_DIMENSION_ORDER = {d: i for i, d in enumerate(Dimension.values)}
_OUTCOMES = ("nps", "overall")


def _item_keys(organization: Organization, journey: Journey) -> tuple[list[str], dict[str, Item]]:
    """Every item key of the journey's questionnaires in journey order: touchpoint items by
    touchpoint and dimension, then outcomes, then the rest; with one item per key (the latest
    version's) for the legend."""
    items = list(
        Item.objects.for_organization(organization)
        .filter(version__questionnaire__journey=journey)
        .order_by("version__questionnaire_id", "version__number", "audience", "position", "pk")
    )
    positions = {
        tp.pk: index
        for index, tp in enumerate(
            Touchpoint.objects.for_organization(organization)
            .filter(journey=journey)
            .order_by("stage__position", "position", "pk")
        )
    }
    by_key: dict[str, Item] = {}
    for item in items:
        if item.audience == Audience.CUSTOMER or item.key not in by_key:
            by_key[item.key] = item

    def order(key: str) -> tuple[int, int, int, str]:
        item = by_key[key]
        if item.touchpoint_id is not None:
            return (
                0,
                positions.get(item.touchpoint_id, 10**6),
                _DIMENSION_ORDER.get(item.dimension, 9),
                key,
            )
        if key in _OUTCOMES:
            return (1, _OUTCOMES.index(key), 0, key)
        return (2, 0, 0, key)

    return sorted(by_key, key=order), by_key


def _answer_value(answer: Answer) -> Any:
    if answer.not_applicable:
        return "n/a"
    if answer.value is not None:
        return answer.value
    if answer.choices:
        return "; ".join(str(choice) for choice in answer.choices)
    return answer.text


def _responses(
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    audience: str,
    window: tuple[date, date] | None = None,
) -> Any:
    date_from, date_to = window or (report_filter.date_from, report_filter.date_to)
    queryset = Response.objects.for_organization(organization).filter(
        questionnaire__journey=journey,
        audience=audience,
        submitted_on__gte=date_from,
        submitted_on__lte=date_to,
    )
    if report_filter.questionnaire_id is not None:
        queryset = queryset.filter(questionnaire_id=report_filter.questionnaire_id)
    return queryset


@dataclass
class _EmployeeRows:
    """The employee responses an export may carry (see `_employee_rows`)."""

    ids: list[int]
    withheld: str  # "", "too_few" or "difference"
    # response id -> (its atom's staff block as "first/last", the segment values and the
    # questionnaire its whole atom shares)
    labels: dict[int, tuple[str, dict[str, Any], int | None]]


def _employee_rows(
    organization: Organization, journey: Journey, report_filter: ReportFilter
) -> _EmployeeRows:
    """Employee rows follow the differencing rule of every employee figure
    (apps.scoring.anonymity): they cover whole staff blocks (the period snapped outwards), and
    they are given only when each atom (a pool of units within a block, at least k employees)
    is wholly in the filter or wholly out of it, so that no two exports differ by fewer than k
    employees' rows. A row shows its atom's block instead of its day, and of its segment and
    questionnaire only what the whole atom shares."""
    from apps.scoring.anonymity import month_start
    from apps.scoring.selectors import staff_data
    from apps.scoring.services import attribute_digest, attribute_values

    staff = staff_data(organization=organization, journey=journey)
    # Responses do not carry their attribute set: the stored form of the segment names it.
    set_of = {attribute_digest(values): pk for pk, values in staff.set_values.items()}
    partition = staff.partition
    window = staff.window(report_filter)
    k = partition.k
    whole_filter = ReportFilter(
        date_from=report_filter.date_from,
        date_to=report_filter.date_to,
        questionnaire_id=None,
    )
    members: dict[Any, list[tuple[int, bool, dict[str, Any], int, date]]] = defaultdict(list)
    for pk, segment, questionnaire_id, day in (
        _responses(organization, journey, whole_filter, Audience.EMPLOYEE, window)
        .filter(pending__isnull=True)
        .order_by()
        .values_list("pk", "segment", "questionnaire_id", "submitted_on")
        .iterator(chunk_size=CHUNK)
    ):
        set_id = set_of.get(attribute_digest(attribute_values(segment or {})))
        selected = report_filter.questionnaire_id in (None, questionnaire_id) and (
            report_filter.matches(segment or {})
        )
        if set_id is None:
            # Processed without any scored answer: in no figure and no atom, so left out.
            continue
        atom = partition.atom((questionnaire_id, set_id, month_start(day)))
        members[atom].append((pk, selected, segment or {}, questionnaire_id, day))
    ids: list[int] = []
    labels: dict[int, tuple[str, dict[str, Any], int | None]] = {}
    split = False
    chosen_total = 0
    for rows in members.values():
        chosen = [row for row in rows if row[1]]
        chosen_total += len(chosen)
        if not chosen:
            continue
        if len(chosen) < len(rows) or len(rows) < k:
            split = True
            continue
        # An atom lies within one block: its first row's day names it.
        first, last = partition.window(rows[0][4], rows[0][4])
        block = f"{first.isoformat()}/{last.isoformat()}"
        shared = {
            name: value
            for name, value in rows[0][2].items()
            if all(row[2].get(name) == value for row in rows)
        }
        questionnaires = {row[3] for row in rows}
        questionnaire = next(iter(questionnaires)) if len(questionnaires) == 1 else None
        for pk, *_rest in rows:
            ids.append(pk)
            labels[pk] = (block, shared, questionnaire)
    if chosen_total and chosen_total < k:
        return _EmployeeRows([], "too_few", {})
    if split:
        return _EmployeeRows([], "difference", {})
    return _EmployeeRows(ids, "", labels)


@dataclass
class ResponsesExport:
    items: dict[str, Item]
    item_keys: list[str]
    segment_names: list[str]
    customers: int
    employees: int
    employees_withheld: bool
    table: Table
    # Why employee rows are left out: "too_few" or "difference" ("" when they are given).
    employees_withheld_reason: str = ""


def responses_export(
    *,
    organization: Organization,
    journey: Journey,
    report_filter: ReportFilter,
    progress: Progress | None = None,
) -> ResponsesExport:
    """The responses under a filter: one row per response, one column per item key."""
    keys, items = _item_keys(organization, journey)
    key_of_item = {
        pk: key
        for pk, key in Item.objects.for_organization(organization)
        .filter(version__questionnaire__journey=journey)
        .values_list("pk", "key")
    }
    matching: dict[str, list[int]] = {}
    segment_names: set[str] = set()
    ids = []
    for pk, segment in (
        _responses(organization, journey, report_filter, Audience.CUSTOMER)
        .order_by("submitted_on", "pk")
        .values_list("pk", "segment")
        .iterator(chunk_size=CHUNK)
    ):
        if report_filter.matches(segment or {}):
            ids.append(pk)
            segment_names.update((segment or {}).keys())
    matching[Audience.CUSTOMER] = ids
    staff_rows = _employee_rows(organization, journey, report_filter)
    matching[Audience.EMPLOYEE] = staff_rows.ids
    for _block, shared, _questionnaire in staff_rows.labels.values():
        segment_names.update(shared)
    employees_withheld = bool(staff_rows.withheld)
    names = sorted(segment_names)
    total = len(matching[Audience.CUSTOMER]) + len(matching[Audience.EMPLOYEE])
    headers = [
        "audience",
        "response",
        "questionnaire",
        "version",
        "submitted_on",
        "submitted_at",
        "language",
        "duration_seconds",
        *(f"segment.{name}" for name in names),
        *keys,
    ]

    def rows() -> Iterator[list[Any]]:
        done = 0
        employee_rows: list[tuple[str, list[Any]]] = []
        for audience in (Audience.CUSTOMER, Audience.EMPLOYEE):
            employee = audience == Audience.EMPLOYEE
            ids = matching[audience]
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                answers: dict[int, dict[str, Any]] = {pk: {} for pk in chunk}
                for answer in (
                    Answer.objects.for_organization(organization)
                    .filter(response_id__in=chunk)
                    .order_by()
                    .only("response_id", "item_id", "value", "not_applicable", "text", "choices")
                ):
                    key = key_of_item.get(answer.item_id)
                    if key is not None:
                        answers[answer.response_id][key] = _answer_value(answer)
                responses = (
                    Response.objects.for_organization(organization)
                    .filter(pk__in=chunk)
                    .select_related("version")
                    .order_by("submitted_on", "pk")
                )
                for response in responses:
                    values = answers[response.pk]
                    if employee:
                        # The atom's block, the questionnaire and segment values the whole
                        # atom shares: nothing that tells its members apart.
                        block, shared, questionnaire = staff_rows.labels[response.pk]
                        employee_rows.append(
                            (
                                block,
                                [
                                    str(response.audience),
                                    None,
                                    questionnaire,
                                    None,
                                    block,
                                    None,
                                    None,
                                    None,
                                    *(shared.get(name) for name in names),
                                    *(values.get(key) for key in keys),
                                ],
                            )
                        )
                        continue
                    segment = response.segment or {}
                    yield [
                        str(response.audience),
                        response.pk,
                        response.questionnaire_id,
                        response.version.number,
                        response.submitted_on.isoformat(),
                        None
                        if response.submitted_at is None
                        else response.submitted_at.isoformat(),
                        response.language,
                        response.duration_seconds,
                        *(segment.get(name) for name in names),
                        *(values.get(key) for key in keys),
                    ]
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        # Employee rows in random order within their block: the order of submission (and so
        # of ids) must not survive into the file.
        random.SystemRandom().shuffle(employee_rows)
        employee_rows.sort(key=lambda item: item[0])
        yield from (row for _block, row in employee_rows)

    return ResponsesExport(
        items=items,
        item_keys=keys,
        segment_names=names,
        customers=len(matching[Audience.CUSTOMER]),
        employees=len(matching[Audience.EMPLOYEE]),
        employees_withheld=employees_withheld,
        table=Table(_("Responses"), headers, rows()),
        employees_withheld_reason=staff_rows.withheld,
    )


def items_table(export: ResponsesExport, language: str) -> Table:
    """The legend of the item columns (XLSX only): what each key asked, on which scale."""
    headers = ["key", "kind", "touchpoint", "dimension", "scale_lo", "scale_hi", "text"]
    rows = []
    for key in export.item_keys:
        item = export.items[key]
        texts = item.texts or {}
        rows.append(
            [
                key,
                str(item.kind),
                item.touchpoint_id,
                item.dimension,
                item.scale_lo,
                item.scale_hi,
                texts.get(language) or next(iter(texts.values()), ""),
            ]
        )
    return Table(_("Items"), headers, rows)


# --- scores -----------------------------------------------------------------------------------

_CELL_FIELDS = ("n", "mean", "variance", "se", "ci_low", "ci_high", "top_box", "bottom_box")
_GAP_FIELDS = ("gap", "t", "df", "p_value", "ci_low", "ci_high", "classification")


def _cell(prefix: str, cell: CellStats) -> dict[str, Any]:
    values = {f"{prefix}_{name}": getattr(cell, name) for name in _CELL_FIELDS}
    values[f"{prefix}_suppressed"] = cell.suppressed
    return values


def _gap(gap: GapStats) -> dict[str, Any]:
    return {("gap" if name == "gap" else f"gap_{name}"): getattr(gap, name) for name in _GAP_FIELDS}


def _nps(prefix: str, nps: NpsStats | None) -> dict[str, Any]:
    if nps is None:
        return {}
    return {
        f"{prefix}_nps_n": nps.n,
        f"{prefix}_promoters": nps.promoters,
        f"{prefix}_passives": nps.passives,
        f"{prefix}_detractors": nps.detractors,
        f"{prefix}_nps": nps.nps,
        f"{prefix}_nps_suppressed": nps.suppressed,
    }


SCORE_HEADERS = [
    "level",
    "touchpoint_id",
    "touchpoint",
    "stage",
    "item_key",
    "dimension",
    *(f"customer_{name}" for name in (*_CELL_FIELDS, "suppressed")),
    *(f"employee_{name}" for name in (*_CELL_FIELDS, "suppressed")),
    *("gap" if name == "gap" else f"gap_{name}" for name in _GAP_FIELDS),
    "importance",
    "importance_source",
    "spearman_rho",
    "importance_pairs",
    "priority",
    "priority_kind",
    "weak_link",
    "trend_change",
    "trend_p_value",
    "trend_status",
    *(
        f"{side}_{name}"
        for side in ("customer", "employee")
        for name in ("nps_n", "promoters", "passives", "detractors", "nps", "nps_suppressed")
    ),
    "journey_cx_customer",
    "journey_cx_employee",
    "journey_consistency",
    "journey_mean",
    "suppressed_cells",
]


def scores_table(report: GapReport) -> Table:
    """The gap report's figures, exact: a row per touchpoint, per dimension and per outcome,
    and one for the journey."""
    records: list[dict[str, Any]] = []
    for tp in report.touchpoints:
        base = {"touchpoint_id": tp.touchpoint_id, "touchpoint": tp.name, "stage": tp.stage_name}
        trend = tp.trend
        records.append(
            {
                "level": "touchpoint",
                **base,
                **_cell("customer", tp.customer),
                **_cell("employee", tp.employee),
                **_gap(tp.gap),
                "importance": tp.importance,
                "importance_source": tp.importance_source,
                "spearman_rho": tp.spearman_rho,
                "importance_pairs": tp.importance_pairs,
                "priority": tp.priority,
                "priority_kind": tp.priority_kind,
                "weak_link": tp.weak_link,
                "trend_change": trend.change if trend else None,
                "trend_p_value": trend.p_value if trend else None,
                "trend_status": trend.status if trend else None,
            }
        )
        for dimension in tp.dimensions:
            records.append(
                {
                    "level": "dimension",
                    **base,
                    "item_key": dimension.item_key,
                    "dimension": dimension.dimension,
                    **_cell("customer", dimension.customer),
                    **_cell("employee", dimension.employee),
                    **_gap(dimension.gap),
                }
            )
    for outcome in report.outcomes:
        records.append(
            {
                "level": "outcome",
                "item_key": outcome.item_key,
                **_cell("customer", outcome.customer),
                **_cell("employee", outcome.employee),
                **_gap(outcome.gap),
                **_nps("customer", outcome.customer_nps),
                **_nps("employee", outcome.employee_nps),
            }
        )
    records.append(
        {
            "level": "journey",
            "journey_cx_customer": report.journey_cx_customer,
            "journey_cx_employee": report.journey_cx_employee,
            "journey_consistency": report.consistency,
            "journey_mean": report.journey_mean,
            "suppressed_cells": report.suppressed_cells,
        }
    )
    unknown = {key for record in records for key in record} - set(SCORE_HEADERS)
    assert not unknown, unknown
    rows = [[record.get(header) for header in SCORE_HEADERS] for record in records]
    return Table(_("Scores"), list(SCORE_HEADERS), rows)

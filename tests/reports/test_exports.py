"""Exports and files made on request: responses and scores as CSV and XLSX with exact numbers,
formulas neutralised, employees without identity; progress, expiring unguessable links, and who
may make and download them. The PDF's numbers are checked against the API's."""

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from apps.organizations.permissions import Principal
from apps.reports import exports, services
from apps.reports.models import FileStatus, ReportFile
from apps.scoring.filters import ReportFilter
from apps.scoring.services import responses_process
from tests.reports import report_data
from tests.reports.test_pdf_report import pdf_text, squash
from tests.scoring.conftest import DAY, NA, ResponseRow, rating_key

pytestmark = pytest.mark.django_db

PERIOD = {
    "from": (DAY - timedelta(days=10)).isoformat(),
    "to": (DAY + timedelta(days=10)).isoformat(),
}


def test_cells_that_would_run_as_formulas_become_text():
    for dangerous in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", '=HYPERLINK("x")'):
        assert exports.neutralise(dangerous) == "'" + dangerous
    for safe in ("plain", "", "a=b", 5, -12.5, None, True):
        assert exports.neutralise(safe) == safe


def test_csv_and_xlsx_neutralise_and_keep_numbers_exact():
    value = 0.1 + 0.2  # 0.30000000000000004: must read back as exactly this double
    table = exports.Table(
        "T", ["text", "number", "negative"], [["=cmd|' /C calc'!A0", value, -3.5]]
    )
    rows = list(csv.reader(io.StringIO(exports.write_csv(table).decode("utf-8-sig"))))
    assert rows[1][0] == "'=cmd|' /C calc'!A0"
    assert float(rows[1][1]) == value and rows[1][1] == repr(value)
    assert rows[1][2] == "-3.5"
    table.rows = [["=cmd|' /C calc'!A0", value, -3.5]]
    sheet = load_workbook(io.BytesIO(exports.write_xlsx([table]))).active
    cell = sheet["A2"]
    assert cell.value == "'=cmd|' /C calc'!A0" and cell.data_type == "s"
    assert sheet["B2"].value == value and sheet["C2"].value == -3.5


@pytest.fixture
def stored(scoring_journey, response_store):
    """Customers and employees, with a hostile comment; processed by the pipeline."""
    tps = scoring_journey.touchpoints_in_order
    rows = []
    for index in range(30):
        customer = index < 20
        audience = "customer" if customer else "employee"
        answers = {
            rating_key(tps[0], "ease"): 2 if customer else 5,
            rating_key(tps[0], "effectiveness"): 3 if customer else 4,
            rating_key(tps[1], "ease"): NA if index % 5 == 0 else 4,
            "nps": index % 11,
        }
        segment = {"store": "Tampere" if index % 2 else "Helsinki"} if customer else {"team": "A"}
        rows.append(ResponseRow(audience, answers, segment, DAY + timedelta(days=index % 3)))
    responses = response_store.add_many(rows)
    comment = response_store.item("customer", "comment")
    if comment is not None:
        from apps.responses.models import Answer

        Answer.objects.create(
            organization_id=response_store.organization_id, response=responses[0], item=comment,
            text="=HYPERLINK(\"http://evil.example\",\"click\")",
        )  # fmt: skip
    while responses_process(organization_id=response_store.organization_id):
        pass
    return responses


def report_filter(**overrides):
    base = {"date_from": DAY - timedelta(days=10), "date_to": DAY + timedelta(days=10)}
    base.update(overrides)
    return ReportFilter(**base)


def test_responses_export_one_row_per_response_and_anonymous_employees(
    org, scoring_journey, stored
):
    export = exports.responses_export(
        organization=org, journey=scoring_journey, report_filter=report_filter()
    )
    rows = [dict(zip(export.table.headers, row, strict=True)) for row in export.table.rows]
    assert export.customers == 20 and export.employees == 10
    assert len(rows) == 30
    tp = scoring_journey.touchpoints_in_order[0]
    key = rating_key(tp, "ease")
    assert export.item_keys.index(key) < export.item_keys.index("nps")
    customers = [r for r in rows if r["audience"] == "customer"]
    employees = [r for r in rows if r["audience"] == "employee"]
    assert {r[key] for r in customers} == {2} and {r[key] for r in employees} == {5}
    assert all(r["response"] is not None and r["submitted_at"] for r in customers)
    assert {r["segment.store"] for r in customers} == {"Helsinki", "Tampere"}
    response_ids = {response.pk for response in stored}
    for row in employees:
        # No identity: no id, no time, no language, no duration; nothing equal to an id.
        assert row["response"] is None and row["submitted_at"] is None
        assert row["language"] is None and row["duration_seconds"] is None
        assert row["segment.team"] == "A"
        identifying = {k: v for k, v in row.items() if k not in {*export.item_keys, "version",
                                                                   "questionnaire"}}  # fmt: skip
        assert not any(value in response_ids for value in identifying.values())
    na_key = rating_key(scoring_journey.touchpoints_in_order[1], "ease")
    assert "n/a" in {r[na_key] for r in customers}


def test_employee_rows_are_withheld_under_the_anonymity_threshold(org, scoring_journey, stored):
    org.employee_anonymity_min = 11
    export = exports.responses_export(
        organization=org, journey=scoring_journey, report_filter=report_filter()
    )
    assert export.employees_withheld and export.employees == 0
    assert {row[0] for row in export.table.rows} == {"customer"}


def test_a_segment_filter_narrows_the_rows(org, scoring_journey, stored):
    export = exports.responses_export(
        organization=org, journey=scoring_journey,
        report_filter=report_filter(attributes={"store": ["Tampere"]}),
    )  # fmt: skip
    assert export.customers == 10 and export.employees == 0
    assert len(list(export.table.rows)) == 10


def test_scores_export_gives_the_reports_exact_figures(org):
    journey, touchpoints = report_data.shape(org)
    report = report_data.gap_report(journey, touchpoints)
    table = exports.scores_table(report)
    rows = [dict(zip(table.headers, row, strict=True)) for row in table.rows]
    first = next(r for r in rows if r["level"] == "touchpoint")
    assert first["customer_mean"] == report.touchpoints[0].customer.mean
    assert first["gap_p_value"] == report.touchpoints[0].gap.p_value
    assert first["gap_classification"] == "blind_spot"
    parsed = list(csv.DictReader(io.StringIO(exports.write_csv(table).decode("utf-8-sig"))))
    assert float(parsed[0]["gap"]) == report.touchpoints[0].gap.gap  # exact, not rounded
    dims = [r for r in rows if r["level"] == "dimension"]
    assert len(dims) == 3 * len(touchpoints)
    suppressed = [r for r in rows if r["employee_suppressed"]]
    assert suppressed and all(r["employee_mean"] is None and r["employee_n"] is None
                              for r in suppressed)  # fmt: skip
    journey_row = rows[-1]
    assert journey_row["level"] == "journey"
    assert journey_row["journey_cx_customer"] == report.journey_cx_customer
    outcome = next(r for r in rows if r["level"] == "outcome")
    assert outcome["customer_nps"] == report.outcomes[0].customer_nps.nps


# --- files made on request ------------------------------------------------------------------


def request_file(org, user, journey, kind, role="analyst", **params):
    return services.report_file_request(
        organization=org, actor=Principal(organization=org, role=role, user=user),
        journey=journey, kind=kind, params={**PERIOD, **params}, language="en",
    )  # fmt: skip


def test_an_export_is_made_in_the_worker_and_downloaded_by_token(
    org, analyst, viewer, stranger, scoring_journey, stored, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report_file = request_file(org, analyst, scoring_journey, "responses_csv")
    report_file = ReportFile.objects.for_organization(org).get(pk=report_file.pk)
    assert report_file.status == FileStatus.READY and report_file.progress == 100
    assert len(report_file.token) >= 32  # 192 random bits
    assert report_file.expires_at > timezone.now() + timedelta(days=6)
    url = reverse("reports:file_download", args=[org.slug, report_file.token])
    viewer_client = Client()
    viewer_client.force_login(viewer)
    response = viewer_client.get(url)  # viewers download what others made
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = response.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("audience,response,questionnaire")
    assert len(body.splitlines()) == 31
    # The hostile comment arrives as text: an apostrophe in front, never a formula.
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body
    stranger_client = Client()
    stranger_client.force_login(stranger)
    assert stranger_client.get(url).status_code == 404
    other_slug = reverse("reports:file_download", args=["rival", report_file.token])
    assert stranger_client.get(other_slug).status_code == 404  # another organisation's file
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    # Expired: the link stops working.
    ReportFile.objects.for_organization(org).filter(pk=report_file.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = viewer_client.get(url)
    assert response.status_code == 302
    assert services.report_files_purge() == 1
    assert ReportFile.objects.for_organization(org).get(pk=report_file.pk).content is None


def test_an_xlsx_export_has_the_item_legend(
    org, analyst, scoring_journey, stored, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report_file = request_file(org, analyst, scoring_journey, "responses_xlsx")
    content = bytes(ReportFile.objects.for_organization(org).get(pk=report_file.pk).content)
    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["Responses", "Items"]
    assert workbook["Responses"].max_row == 31
    assert workbook["Items"]["A1"].value == "key"


def test_a_viewer_may_make_the_pdf_but_not_an_export(org, viewer, scoring_journey, stored):
    from apps.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        request_file(org, viewer, scoring_journey, "responses_csv", role="viewer")
    report_file = request_file(org, viewer, scoring_journey, "gap_report_pdf", role="viewer")
    assert report_file.status == FileStatus.PENDING


def test_the_web_page_makes_a_file_and_shows_progress(
    org, analyst, scoring_journey, stored, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(analyst)
    url = reverse("reports:journey", args=[org.slug, scoring_journey.pk])
    page = client.get(url)
    assert page.status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url, {"kind": "scores_csv", "date_from": PERIOD["from"],
                                     "date_to": PERIOD["to"], "language": "en"})  # fmt: skip
    assert response.status_code == 302
    file_page = client.get(response["Location"])
    text = file_page.content.decode()
    # Progress with a polling script under the page's CSP nonce, and a plain refresh link.
    assert "<progress" in text and "Refresh" in text
    nonce = file_page.context["csp_nonce"]
    assert f'<script nonce="{nonce}">' in text
    assert 'http-equiv="refresh"' not in text
    token = response["Location"].rstrip("/").split("/")[-1]
    status = client.get(reverse("reports:file_status", args=[org.slug, token])).json()
    assert status == {**status, "status": "pending", "finished": False, "ready": False}
    for callback in callbacks:
        callback()
    status = client.get(reverse("reports:file_status", args=[org.slug, token])).json()
    assert status["ready"] and status["download_url"].endswith("/download/")
    assert "Download" in client.get(response["Location"]).content.decode()


def test_a_bad_filter_names_the_field(org, analyst, scoring_journey):
    client = Client()
    client.force_login(analyst)
    url = reverse("reports:journey", args=[org.slug, scoring_journey.pk])
    response = client.post(url, {"kind": "gap_report_pdf", "date_from": "2026-03-10",
                                 "date_to": "2026-03-01", "language": "en",
                                 "attributes": "planet=Mars"})  # fmt: skip
    assert response.status_code == 400
    assert {"date_to", "attributes"} <= set(response.context["form"].errors)
    assert not ReportFile.objects.for_organization(org).exists()


def test_the_api_makes_and_serves_files(
    org,
    analyst_api,
    viewer_api,
    stranger_api,
    scoring_journey,
    stored,
    django_capture_on_commit_callbacks,
):
    url = reverse("api:report-files", args=[org.slug])
    assert viewer_api.post(url, {"journey": scoring_journey.pk, "kind": "scores_xlsx",
                                 "filters": PERIOD}, format="json").status_code == 403  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_api.post(url, {"journey": scoring_journey.pk, "kind": "scores_xlsx",
                                          "filters": PERIOD}, format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    token = response.json()["token"]
    detail = analyst_api.get(reverse("api:report-file", args=[org.slug, token])).json()
    assert detail["status"] == "ready" and detail["download_url"]
    download = viewer_api.get(reverse("api:report-file-download", args=[org.slug, token]))
    assert download.status_code == 200
    assert load_workbook(io.BytesIO(download.content))["Scores"]["A1"].value == "level"
    assert stranger_api.get(reverse("api:report-file", args=[org.slug, token])).status_code == 404
    listed = viewer_api.get(url, {"journey": scoring_journey.pk}).json()["results"]
    assert [f["token"] for f in listed] == [token]
    bad = analyst_api.post(url, {"journey": scoring_journey.pk, "kind": "gap_report_pdf",
                                 "filters": {"from": "yesterday"}}, format="json")  # fmt: skip
    assert bad.status_code == 400 and "from" in bad.json()["error"]["fields"]


def test_the_pdfs_numbers_are_the_apis(
    org, analyst, analyst_api, scoring_journey, stored, django_capture_on_commit_callbacks
):
    """The gap report through the real pipeline: what the PDF says is what the API returns,
    rounded for reading."""
    api = analyst_api.get(
        reverse("api:journey-gap-report", args=[org.slug, scoring_journey.pk]), PERIOD
    ).json()
    with django_capture_on_commit_callbacks(execute=True):
        report_file = request_file(org, analyst, scoring_journey, "gap_report_pdf")
    report_file = ReportFile.objects.for_organization(org).get(pk=report_file.pk)
    assert report_file.status == FileStatus.READY, report_file.error
    text = squash(pdf_text(bytes(report_file.content)))
    web_shop = next(t for t in api["touchpoints"] if t["name"] == "Web shop")
    customer = round(web_shop["customer"]["mean"])
    employee = web_shop["employee"]
    staff = "withheld" if employee["suppressed"] else round(employee["mean"])
    assert f"Web shop {customer:.0f} {staff}" in text  # the journey map's row
    # The key figures: journey CX score of customers and of staff, then the NPS.
    staff = api["journey_cx_employee"]
    assert f"{api['journey_cx_customer']:.0f} {'-' if staff is None else f'{staff:.0f}'}" in text
    nps = next(o for o in api["outcomes"] if o["item_key"] == "nps")["customer_nps"]["nps"]
    assert f"{nps:+.0f}" in text
    # The first priority, in words, with the API's score rounded.
    first = api["top_priorities"][0]
    assert f"{first['customer_score']:.0f} out of 100" in text
    assert mail.outbox == []


def test_files_left_running_by_a_stopped_worker_fail_after_15_minutes(
    org, other_org, analyst, scoring_journey, stored, django_capture_on_commit_callbacks
):
    from apps.reports import tasks
    from tests.factories import JourneyFactory

    now = timezone.now()

    def made(organization, journey, status, progress_minutes_ago, created_minutes_ago=60):
        report_file = ReportFile.objects.create(
            organization=organization, journey=journey, kind="gap_report_pdf", status=status,
            progress_at=None if progress_minutes_ago is None
            else now - timedelta(minutes=progress_minutes_ago),
        )  # fmt: skip
        ReportFile.objects.for_organization(organization).filter(pk=report_file.pk).update(
            created_at=now - timedelta(minutes=created_minutes_ago)
        )
        return report_file.pk

    stopped = made(org, scoring_journey, FileStatus.RUNNING, 16)
    elsewhere = made(other_org, JourneyFactory(organization=other_org), FileStatus.RUNNING, 30)
    before_progress_was_kept = made(org, scoring_journey, FileStatus.RUNNING, None)
    busy = made(org, scoring_journey, FileStatus.RUNNING, 14)
    just_started = made(org, scoring_journey, FileStatus.RUNNING, None, created_minutes_ago=5)
    waiting = made(org, scoring_journey, FileStatus.PENDING, None)
    ready = made(org, scoring_journey, FileStatus.READY, 60)

    assert tasks.sweep_stale_files() == 3
    status = dict(ReportFile.unscoped.values_list("pk", "status"))
    assert {pk for pk, s in status.items() if s == FileStatus.FAILED} == {
        stopped,
        elsewhere,
        before_progress_was_kept,
    }
    assert status[busy] == status[just_started] == FileStatus.RUNNING
    assert status[waiting] == FileStatus.PENDING and status[ready] == FileStatus.READY
    failed = ReportFile.objects.for_organization(org).get(pk=stopped)
    assert failed.error == "Making the file was interrupted. Ask for it again."
    assert failed.finished_at >= now
    assert services.report_files_fail_stale() == []  # nothing left to sweep
    # The broker's redelivery of the stopped worker's task, later: the file stays failed.
    assert services.report_file_render(organization=org, file_id=stopped).status == "failed"


def test_a_running_file_reports_progress_so_the_sweep_leaves_it(
    org, analyst, scoring_journey, stored, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report_file = request_file(org, analyst, scoring_journey, "responses_xlsx")
    report_file = ReportFile.objects.for_organization(org).get(pk=report_file.pk)
    assert report_file.status == FileStatus.READY
    assert report_file.progress_at is not None
    assert report_file.progress_at <= report_file.finished_at

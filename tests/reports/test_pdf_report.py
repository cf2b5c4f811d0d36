"""The gap report PDF: real WeasyPrint output, text checked against the report's figures."""

import re
import subprocess
import zlib
from datetime import date
from pathlib import Path

import pytest
from django.utils import translation

from apps.reports import narrative
from apps.reports.gap_pdf import gap_report_context, gap_report_pdf
from apps.scoring.figures import ScoringSettings
from tests.reports import report_data

pytestmark = pytest.mark.django_db

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def pdf_text(data: bytes) -> str:
    """The text of a PDF, without new dependencies: pdftotext (poppler, installed with pdftoppm)
    when available, else the literal strings of the content streams."""
    try:
        result = subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
        )
        return result.stdout.decode()
    except (FileNotFoundError, subprocess.CalledProcessError):  # pragma: no cover
        chunks = []
        for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
            try:
                chunks.append(zlib.decompress(stream).decode("latin-1"))
            except zlib.error:
                chunks.append(stream.decode("latin-1"))
        return "\n".join(chunks)


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def journey_and_report(org):
    journey, touchpoints = report_data.shape(org)
    return journey, touchpoints, report_data.gap_report(journey, touchpoints)


def render(org, journey, report, language="en", **kwargs):
    return gap_report_pdf(
        organization=org,
        journey=journey,
        report=report,
        period=(date(2025, 3, 1), date(2025, 3, 31)),
        language=language,
        filters_description=kwargs.pop("filters_description", "All responses"),
        **kwargs,
    )


def test_the_pdf_shows_the_reports_figures(org, journey_and_report):
    journey, touchpoints, report = journey_and_report
    data = render(org, journey, report)
    assert data.startswith(b"%PDF-")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "gap-report-en.pdf").write_bytes(data)
    raw = pdf_text(data)
    text = squash(raw)
    assert "Gap report: Home delivery" in text
    assert "Acme Oy" in text
    assert "1.3.2025\u201331.3.2025" in text  # an en dash
    # Every touchpoint's figures, rounded to whole points, as the report computed them.
    for row in report.touchpoints:
        assert row.name in text
    web_shop = report.touchpoints[0]
    assert web_shop.gap.classification == "blind_spot"
    assert f"{web_shop.customer.mean:.0f}" in text and f"{web_shop.employee.mean:.0f}" in text
    assert f"+{web_shop.gap.gap:.0f}" in text
    # The first priority explained in plain words, built from the figures.
    first = report.top_priorities[0]
    assert first.touchpoint_id == touchpoints[0].pk
    sentence = (
        f"Staff rate Web shop {first.gap:.0f} points higher than customers do (p < 0.001), and "
        f"it drives recommendation (rho 0.41): work on it first."
    )
    assert sentence in text
    # Sections: journey map, charts, one page per touchpoint, method notes, page numbers.
    for heading in (
        "Journey map",
        "Customers and staff along the journey",
        "Blind-spot matrix",
        "Method",
        "Welch",
    ):
        assert heading in text
    pages = raw.count("\f")  # pdftotext ends every page with a form feed
    assert pages >= 4 + len(report.touchpoints)
    assert re.search(rf"\b2 ?/ ?{pages}\b", text)


def test_the_pdf_in_finnish(org, journey_and_report):
    journey, touchpoints, report = journey_and_report
    journey.translations = {"fi": {"name": "Kotiinkuljetus"}}
    journey.save()
    touchpoints[0].translations = {"fi": {"name": "Verkkokauppa"}}
    touchpoints[0].save()
    data = render(org, journey, report, language="fi", filters_description="Kaikki vastaukset")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "gap-report-fi.pdf").write_bytes(data)
    text = squash(pdf_text(data))
    assert "Kotiinkuljetus" in text
    assert "Verkkokauppa" in text
    assert "Kaikki vastaukset" in text


def test_an_empty_period_says_so_plainly(org):
    journey, touchpoints = report_data.shape(org)
    data = render(org, journey, report_data.empty_report(journey, touchpoints))
    text = squash(pdf_text(data))
    assert "No responses in this period" in text
    assert "Blind-spot matrix" not in text


def test_withheld_staff_figures_are_said_and_never_shown(org):
    journey, touchpoints = report_data.shape(org)
    report = report_data.gap_report(
        journey, touchpoints, settings=ScoringSettings(employee_anonymity_min=100)
    )
    assert report.suppressed_cells > 0
    text = squash(pdf_text(render(org, journey, report)))
    assert f"Staff figures are withheld in {report.suppressed_cells} cells" in text
    assert "withheld" in text


def test_p_values_have_two_significant_digits():
    with translation.override("en"):
        assert narrative.p_text(0.0000001) == "p < 0.001"
        assert narrative.p_text(0.009231) == "p = 0.0092"
        assert narrative.p_text(0.5) == "p = 0.50"
        assert narrative.p_text(0.04567) == "p = 0.046"
    with translation.override("fi"):
        assert narrative.p_text(0.04567) == "p = 0,046"


def test_the_context_rounds_for_reading(org, journey_and_report):
    journey, _touchpoints, report = journey_and_report
    with translation.override("en"):
        context = gap_report_context(
            organization=org,
            journey=journey,
            report=report,
            period=(date(2025, 3, 1), date(2025, 3, 31)),
            language="en",
            filters_description="All",
        )
    first = context["stages"][0].touchpoints[0]
    assert first["customer"] == f"{report.touchpoints[0].customer.mean:.0f}"
    assert first["label"] == "Blind spot"
    assert [p.touchpoint.touchpoint_id for p in context["priorities"]] == [
        p.touchpoint_id for p in report.top_priorities
    ]

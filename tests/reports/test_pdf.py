"""PDF rendering: real WeasyPrint output with the font embedded and no network access."""

import pytest
from weasyprint.urls import FatalURLFetchingError

from apps.reports import pdf
from apps.reports.charts import CurvePoint, dual_curve


def page(body: str) -> str:
    return (
        '<!doctype html><html lang="fi"><head><meta charset="utf-8">'
        '<link rel="stylesheet" href="css/print.css"></head><body>' + body + "</body></html>"
    )


def test_a_report_embeds_its_font_and_keeps_finnish_letters():
    chart = dual_curve(
        [CurvePoint("Toimitus", 40.0, 80.0, "blind_spot")], title="Käyrä", description="d"
    )
    data = pdf.html_to_pdf(
        page(f"<h1>Aukkoraportti: Äänekoski, Öljy, Åland</h1>{chart.svg}{chart.table_html()}"),
        uncompressed_pdf=True,
    )
    assert data.startswith(b"%PDF-")
    # Subset font names keep the family: the vendored Noto Sans is embedded, not a system font.
    assert b"Noto-Sans" in data
    assert b"/FontFile2" in data


def test_a_report_never_fetches_from_the_network():
    with pytest.raises(FatalURLFetchingError):
        pdf.html_to_pdf(page('<img src="http://169.254.169.254/latest">'))


def test_the_base_template_renders():
    data = pdf.render_pdf("reports/pdf_base.html", {"title": "Raportti"})
    assert data.startswith(b"%PDF-")


def test_static_files_resolve_from_the_finders():
    assert pdf.static_path("css/print.css") is not None
    assert pdf.static_path("vendor/fonts/noto-sans/noto-sans-latin-400-normal.woff") is not None
    assert pdf.static_path("../settings.py") is None

"""Server-rendered SVG charts: well-formed, accessible, drawn where the numbers say."""

import xml.etree.ElementTree as ET

import pytest

from apps.reports.charts import (
    BarGroup,
    CurvePoint,
    Interval,
    MatrixPoint,
    TrendPoint,
    blind_spot_matrix,
    distribution_bars,
    dual_curve,
    interval_bars,
    trend_lines,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(chart):
    return ET.fromstring(str(chart.svg))  # noqa: S314 - our own markup


def test_dual_curve_is_accessible_and_places_scores():
    chart = dual_curve(
        [
            CurvePoint("Web shop", 50.0, 80.0, "blind_spot"),
            CurvePoint("Store", 100.0, 90.0, "aligned"),
        ],
        title="Customers and staff along the journey",
        description="Two touchpoints",
    )
    root = parse(chart)
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.get("role") == "img"
    assert root.find(f"s:title[@id='{title_id}']", NS).text == chart.title
    assert root.find(f"s:desc[@id='{desc_id}']", NS).text == "Two touchpoints"
    circles = root.findall(".//s:circle", NS)
    # Plot area: top 34, height 320 - 34 - 92 = 194; score 50 sits half-way, 100 at the top.
    ys = sorted(float(c.get("cy")) for c in circles if c.get("r") == "4.5")
    # The legend dot (y 14), then Store's 100 at the top of the plot, Web shop's 50 half-way.
    assert ys == pytest.approx([14.0, 34.0, 34 + 194 / 2], abs=0.1)
    assert chart.rows == [
        ["Web shop", "50", "80", "+30", "Blind spot"],
        ["Store", "100", "90", "-10", "Aligned"],
    ]


def test_missing_values_break_the_line_and_labels_are_escaped():
    chart = dual_curve(
        [
            CurvePoint("<script>alert(1)</script>", 40.0, None, "insufficient_data"),
            CurvePoint("B", 60.0, None, "insufficient_data"),
            CurvePoint("C", None, None, "insufficient_data"),
            CurvePoint("D", 70.0, 75.0, "aligned"),
        ],
        title="T & <b>",
        description="d",
    )
    assert "<script>" not in str(chart.svg)
    root = parse(chart)
    assert root.find("s:title", NS).text == "T & <b>"
    polylines = root.findall(".//s:polyline", NS)
    # Customers: A-B joined, C missing, D alone: one line of two points; staff: only D, no line.
    assert len(polylines) == 1
    assert len(polylines[0].get("points").split()) == 2
    assert chart.rows[2][1:4] == ["-", "-", "-"]
    assert "&lt;script&gt;" in str(chart.table_html())


def test_blind_spot_matrix_positions_and_sizes():
    chart = blind_spot_matrix(
        [
            MatrixPoint("Delivery", 40.0, 30.0, 1.0, "blind_spot"),
            MatrixPoint("Invoice", 80.0, -20.0, 0.0, "hidden_strength"),
            MatrixPoint("Unknown", None, None, 0.5, "insufficient_data"),
        ],
        title="Blind-spot matrix",
        description="d",
    )
    root = parse(chart)
    circles = {round(float(c.get("r")), 1): c for c in root.findall(".//s:circle", NS)}
    big, small = circles[22.0], circles[6.0]
    # x: 56 + 644 * score/100; y: gap limit 50 over 348 px, +50 at the top (20).
    assert float(big.get("cx")) == pytest.approx(56 + 644 * 0.4, abs=0.1)
    assert float(big.get("cy")) == pytest.approx(20 + 348 * (1 - 80 / 100), abs=0.1)
    assert float(small.get("cy")) == pytest.approx(20 + 348 * (1 - 30 / 100), abs=0.1)
    assert big.get("fill") == "#c0392b" and small.get("fill") == "#1f6fb2"
    assert len(circles) == 2  # no bubble for a touchpoint without figures, but a table row
    assert ["Unknown", "-", "-", "0.50", "Insufficient data"] in chart.rows


def test_interval_bars_withhold_suppressed_staff_figures():
    chart = interval_bars(
        [
            BarGroup("Ease", Interval(45.0, 30.0, 60.0), Interval(85.0, 70.0, 99.0)),
            BarGroup("Emotion", Interval(50.0), Interval(None), employee_suppressed=True),
        ],
        title="Dimensions",
        description="d",
    )
    assert chart.rows == [["Ease", "45 (30-60)", "85 (70-99)"], ["Emotion", "50", "withheld"]]
    text = ET.tostring(parse(chart), encoding="unicode")
    assert "withheld (too few respondents)" in text


def test_distribution_bars_show_every_scale_point():
    chart = distribution_bars(
        [1, 2, 3, 4, 5], {1: 3, 5: 1}, None, title="Distribution", description="d"
    )
    assert chart.rows[0] == ["1", "3 (75%)", "withheld"]
    assert chart.rows[1] == ["2", "0 (0%)", "withheld"]
    assert chart.rows[4] == ["5", "1 (25%)", "withheld"]
    bars = [r for r in parse(chart).findall(".//s:rect", NS) if r.get("fill-opacity") == "0.85"]
    assert len(bars) == 5  # customers only


def test_trend_lines_band_and_table():
    chart = trend_lines(
        [
            TrendPoint("2026-W40", Interval(50.0, 40.0, 60.0), Interval(None)),
            TrendPoint("2026-W41", Interval(55.0, 45.0, 65.0), Interval(None)),
        ],
        title="Trend",
        description="d",
    )
    root = parse(chart)
    assert len(root.findall(".//s:polygon", NS)) == 1
    assert chart.rows[1] == ["2026-W41", "55 (45-65)", "-"]


def test_blind_spot_matrix_labels_of_crowded_bubbles_do_not_overlap():
    names = ["Brand impression", "Website", "Sales visit", "Support call", "Delivery"]
    chart = blind_spot_matrix(
        [MatrixPoint(name, 70.0 + i, 4.0 - i, 0.5, "aligned") for i, name in enumerate(names)],
        title="Blind-spot matrix",
        description="d",
    )
    root = parse(chart)
    labels = [t for t in root.findall(".//s:text", NS) if t.text in names]
    halos = [t for t in labels if t.get("fill") == "#fff"]
    labels = [t for t in labels if t.get("fill") != "#fff"]
    assert sorted(t.text for t in labels) == sorted(t.text for t in halos) == sorted(names)
    boxes = []
    for label in labels:
        x, y, width = float(label.get("x")), float(label.get("y")), 6.6 * len(label.text)
        start = {"start": x, "end": x - width, "middle": x - width / 2}[label.get("text-anchor")]
        boxes.append((start, y - 10.5, start + width, y + 2.5))
        assert start >= 56 and start + width <= 720 and y - 10.5 >= 20 and y <= 368
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (a, b)


def test_dual_curve_leaves_room_for_the_last_touchpoints_name():
    points = [CurvePoint(f"Touchpoint {i}", 60.0, 65.0, "aligned") for i in range(11)]
    chart = dual_curve(
        [*points, CurvePoint("Account review", 60.0, 65.0, "aligned")], title="t", description="d"
    )
    root = parse(chart)
    last = [g for g in root.findall(".//s:g", NS) if g.get("transform", "").startswith("translate")]
    x = float(last[-1].get("transform").split("(")[1].split()[0])
    # 14 characters of ~6.6 px rotated 35 degrees reach ~76 px to the right of the tick.
    assert x + len("Account review") * 6.6 * 0.82 <= 720

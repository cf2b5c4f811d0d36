"""Charts drawn once on the server as SVG: the same markup serves the web page and the PDF.

Every chart carries a title and a description inside the SVG (role="img", aria-labelledby) and a
data table with the same numbers for screen readers and for readers of the printed report.
Callers pass already translated titles; scores are on 0-100 (SCORING.md section 2).
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from math import isfinite, sqrt

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

# The four classification colours of DESIGN.md (as in static/css/app.css), distinct for
# colour-blind readers and always paired with a label or a shape: insufficient data is drawn
# outlined and hatched, not filled.
CLASSIFICATION_COLOURS = {
    "blind_spot": "#c0392b",
    "hidden_strength": "#1f6fb2",
    "aligned": "#7a7f87",
    "insufficient_data": "#7a7f87",
}
CUSTOMER_COLOUR = "#0f766e"
EMPLOYEE_COLOUR = "#7c3aed"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"

_ids = count(1)


@dataclass(frozen=True)
class Chart:
    """One rendered chart: the SVG and its data-table alternative."""

    title: str
    description: str
    svg: SafeString
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def table_html(self, css_class: str = "chart-data") -> SafeString:
        head = format_html_join("", '<th scope="col">{}</th>', ((h,) for h in self.headers))
        body = format_html_join(
            "",
            "<tr>{}</tr>",
            (
                (
                    format_html(
                        '<th scope="row">{}</th>{}',
                        row[0],
                        format_html_join("", "<td>{}</td>", ((cell,) for cell in row[1:])),
                    ),
                )
                for row in self.rows
            ),
        )
        return format_html(
            '<table class="{}"><caption>{}</caption><thead><tr>{}</tr></thead>'
            "<tbody>{}</tbody></table>",
            css_class,
            self.title,
            head,
            body,
        )


def score_text(value: float | None) -> str:
    """Scores are rounded to whole points for reading (DESIGN.md); exact figures are in the API."""
    return "-" if value is None else f"{value:.0f}"


def gap_text(value: float | None) -> str:
    if value is None:
        return "-"
    # -0.3 rounds to "-0", which reads as a loss: show no change as "±0".
    return "±0" if round(value) == 0 else f"{value:+.0f}"


class _Svg:
    """A small SVG writer: escaped text, fixed coordinate system, accessible wrapper."""

    def __init__(self, width: int, height: int, title: str, description: str) -> None:
        self.width = width
        self.height = height
        self.title = title
        self.description = description
        self.parts: list[str] = []
        self.uid = f"chart{next(_ids)}"

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(
        self,
        x: float,
        y: float,
        content: str,
        *,
        size: int = 12,
        anchor: str = "start",
        fill: str = INK,
        weight: str = "normal",
        rotate: bool = False,
    ) -> None:
        transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="{fill}" font-weight="{weight}"{transform}>{escape(content)}</text>'
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, *, stroke: str = GRID, width: float = 1
    ) -> None:
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="{width}"/>'
        )

    def render(self) -> SafeString:
        hatch = (
            f'<defs><pattern id="{self.uid}-hatch" width="6" height="6" '
            'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{MUTED}" stroke-width="2"/>'
            "</pattern></defs>"
        )
        return mark_safe(  # noqa: S308 - every caller-provided string went through escape()
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} {self.height}" '
            f'width="100%" role="img" aria-labelledby="{self.uid}-title {self.uid}-desc" '
            f'font-family="{escape(FONT)}" class="chart">'
            f'<title id="{self.uid}-title">{escape(self.title)}</title>'
            f'<desc id="{self.uid}-desc">{escape(self.description)}</desc>'
            f"{hatch}{''.join(self.parts)}</svg>"
        )

    @property
    def hatch_fill(self) -> str:
        return f"url(#{self.uid}-hatch)"


def _clip(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


def _short(label: str, limit: int = 18) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


@dataclass(frozen=True)
class CurvePoint:
    label: str
    customer: float | None
    employee: float | None
    classification: str


def dual_curve(points: Sequence[CurvePoint], *, title: str, description: str) -> Chart:
    """Customer score and the staff's estimate along the journey, touchpoint by touchpoint."""
    width, height = 720, 320
    left, right, top, bottom = 44, 16, 34, 92
    # The touchpoint names hang down to the right of their ticks (rotated 35 degrees): leave
    # room for the last one, which would otherwise run off the chart.
    if points:
        reach = len(_short(points[-1].label)) * _LABEL_CHAR_WIDTH * 0.82
        step = (width - left - right) / len(points)
        right = max(right, round(reach - step / 2 + 6))
    plot_w, plot_h = width - left - right, height - top - bottom
    svg = _Svg(width, height, title, description)
    step = plot_w / max(1, len(points))

    def y_of(score: float) -> float:
        return top + plot_h * (1 - _clip(score, 0, 100) / 100)

    for tick in range(0, 101, 25):
        svg.line(left, y_of(tick), width - right, y_of(tick))
        svg.text(left - 6, y_of(tick) + 4, str(tick), size=11, anchor="end", fill=MUTED)
    _legend(svg, left, 18)

    for audience, colour, dash in (
        ("customer", CUSTOMER_COLOUR, ""),
        ("employee", EMPLOYEE_COLOUR, ' stroke-dasharray="6 4"'),
    ):
        # A missing value (no data, or withheld for anonymity) breaks the line instead of
        # bridging it, so that nobody reads a number into the gap.
        segments: list[list[tuple[float, float]]] = [[]]
        for index, point in enumerate(points):
            value = getattr(point, audience)
            if value is None or not isfinite(value):
                segments.append([])
                continue
            segments[-1].append((left + step * (index + 0.5), y_of(value)))
        for segment in segments:
            if len(segment) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
                svg.add(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5"{dash}/>'
                )
            for x, y in segment:
                shape = (
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'
                    if audience == "customer"
                    else f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                    f'fill="{colour}"/>'
                )
                svg.add(shape)

    for index, point in enumerate(points):
        x = left + step * (index + 0.5)
        colour = CLASSIFICATION_COLOURS.get(point.classification, MUTED)
        if point.classification == "blind_spot":
            svg.add(
                f'<rect x="{x - step / 2 + 2:.1f}" y="{top}" width="{step - 4:.1f}" '
                f'height="{plot_h}" fill="{colour}" fill-opacity="0.08"/>'
            )
        svg.add(
            f'<g transform="translate({x:.1f} {top + plot_h + 10})">'
            f'<text transform="rotate(35)" font-size="11" fill="{INK}">'
            f"{escape(_short(point.label))}</text></g>"
        )

    rows = [
        [
            point.label,
            score_text(point.customer),
            score_text(point.employee),
            gap_text(
                None
                if point.customer is None or point.employee is None
                else point.employee - point.customer
            ),
            classification_label(point.classification),
        ]
        for point in points
    ]
    headers = [_("Touchpoint"), _("Customers"), _("Staff estimate"), _("Gap"), _("Finding")]
    return Chart(title, description, svg.render(), headers, rows)


def _legend(svg: _Svg, x: float, y: float) -> None:
    svg.add(f'<circle cx="{x + 5}" cy="{y - 4}" r="4.5" fill="{CUSTOMER_COLOUR}"/>')
    svg.text(x + 14, y, _("Customers"), size=12)
    svg.add(f'<rect x="{x + 106}" y="{y - 8}" width="8" height="8" fill="{EMPLOYEE_COLOUR}"/>')
    svg.text(x + 120, y, _("Staff estimate"), size=12)


def classification_label(code: str) -> str:
    return {
        "blind_spot": _("Blind spot"),
        "hidden_strength": _("Hidden strength"),
        "aligned": _("Aligned"),
        "insufficient_data": _("Insufficient data"),
    }.get(code, code)


@dataclass(frozen=True)
class MatrixPoint:
    label: str
    customer_score: float | None
    gap: float | None
    importance: float  # 0-1
    classification: str


def blind_spot_matrix(
    points: Sequence[MatrixPoint], *, title: str, description: str, gap_threshold: float = 10.0
) -> Chart:
    """x: customer score, y: gap (staff minus customers), bubble size: importance.

    Blind spots sit top-left (customers unhappy, staff unaware); the gap threshold is drawn.
    """
    width, height = 720, 420
    left, right, top, bottom = 56, 20, 20, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    limit = 50.0
    for point in points:
        if point.gap is not None and isfinite(point.gap):
            limit = max(limit, min(100.0, abs(point.gap) + 5))
    svg = _Svg(width, height, title, description)

    def x_of(score: float) -> float:
        return left + plot_w * _clip(score, 0, 100) / 100

    def y_of(gap: float) -> float:
        return top + plot_h * (1 - (_clip(gap, -limit, limit) + limit) / (2 * limit))

    svg.add(
        f'<rect x="{left}" y="{y_of(limit):.1f}" width="{plot_w}" '
        f'height="{y_of(gap_threshold) - y_of(limit):.1f}" fill="'
        f'{CLASSIFICATION_COLOURS["blind_spot"]}" fill-opacity="0.06"/>'
    )
    for tick in range(0, 101, 25):
        svg.line(x_of(tick), top, x_of(tick), top + plot_h)
        svg.text(x_of(tick), top + plot_h + 16, str(tick), size=11, anchor="middle", fill=MUTED)
    gap_step = 10 if limit <= 50 else 25
    tick = -int(limit // gap_step) * gap_step
    while tick <= limit:
        svg.line(left, y_of(tick), left + plot_w, y_of(tick), stroke=MUTED if tick == 0 else GRID)
        svg.text(left - 6, y_of(tick) + 4, f"{tick:+d}", size=11, anchor="end", fill=MUTED)
        tick += gap_step
    for threshold in (gap_threshold, -gap_threshold):
        svg.add(
            f'<line x1="{left}" y1="{y_of(threshold):.1f}" x2="{left + plot_w}" '
            f'y2="{y_of(threshold):.1f}" stroke="{MUTED}" stroke-dasharray="4 4"/>'
        )
    svg.text(left + plot_w / 2, height - 8, _("Customer score"), size=12, anchor="middle")
    svg.text(16, top + plot_h / 2, _("Gap (staff minus customers)"), anchor="middle", rotate=True)

    rows = []
    bubbles: list[tuple[float, float, float, str]] = []  # x, y, radius, label
    # Large bubbles first so that small ones stay visible on top.
    for point in sorted(points, key=lambda p: -p.importance):
        if point.customer_score is None or point.gap is None:
            rows.append(
                [
                    point.label,
                    score_text(point.customer_score),
                    gap_text(point.gap),
                    f"{point.importance:.2f}",
                    classification_label(point.classification),
                ]
            )
            continue
        radius = 6 + 16 * sqrt(_clip(point.importance, 0, 1))
        colour = CLASSIFICATION_COLOURS.get(point.classification, MUTED)
        x, y = x_of(point.customer_score), y_of(point.gap)
        fill = svg.hatch_fill if point.classification == "insufficient_data" else colour
        svg.add(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{fill}" '
            f'fill-opacity="0.75" stroke="{colour}" stroke-width="1.5"/>'
        )
        bubbles.append((x, y, radius, _short(point.label, 22)))
        rows.append(
            [
                point.label,
                score_text(point.customer_score),
                gap_text(point.gap),
                f"{point.importance:.2f}",
                classification_label(point.classification),
            ]
        )
    # Labels over every bubble, each where it covers no other label and no other bubble.
    # The halo is a white copy underneath: WeasyPrint (the PDF) ignores `paint-order`.
    for x, y, anchor, label in _place_labels(bubbles, (left, top, left + plot_w, top + plot_h)):
        svg.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" text-anchor="{anchor}" fill="#fff" '
            f'stroke="#fff" stroke-width="3" stroke-linejoin="round" aria-hidden="true">'
            f"{escape(label)}</text>"
        )
        svg.text(x, y, label, size=11, anchor=anchor)
    headers = [_("Touchpoint"), _("Customer score"), _("Gap"), _("Importance"), _("Finding")]
    return Chart(title, description, svg.render(), headers, rows)


# Width of one character of an 11 px label, generous (Noto Sans averages ~6 px).
_LABEL_CHAR_WIDTH = 6.6
_LABEL_HEIGHT = 13.0


def _place_labels(
    bubbles: Sequence[tuple[float, float, float, str]],
    plot: tuple[float, float, float, float],
) -> list[tuple[float, float, str, str]]:
    """(x, baseline y, text-anchor, label) per bubble: right of it, else left, else above or
    below, else shifted further up or down: the first spot that stays in the plot and
    overlaps neither a placed label nor another bubble (the least overlap if none is free)."""
    x_min, y_min, x_max, y_max = plot
    placed: list[tuple[float, float, float, float]] = []

    def overlap(
        a: tuple[float, float, float, float], b: tuple[float, float, float, float]
    ) -> float:
        w = min(a[2], b[2]) - max(a[0], b[0])
        h = min(a[3], b[3]) - max(a[1], b[1])
        return w * h if w > 0 and h > 0 else 0.0

    def covers_bubble(box: tuple[float, float, float, float], own: int) -> float:
        total = 0.0
        for index, (bx, by, radius, _label) in enumerate(bubbles):
            if index != own:
                total += overlap(box, (bx - radius, by - radius, bx + radius, by + radius))
        return total

    result = []
    for own, (x, y, radius, label) in enumerate(bubbles):
        width = _LABEL_CHAR_WIDTH * len(label)
        candidates = []
        for shift in (0.0, -1.0, 1.0, -2.0, 2.0, -3.0, 3.0):
            dy = shift * _LABEL_HEIGHT
            candidates.append((x + radius + 3, y + dy, "start"))
            candidates.append((x - radius - 3, y + dy, "end"))
            if shift == 0.0:
                candidates.append((x, y - radius - 4 - _LABEL_HEIGHT / 2, "middle"))
                candidates.append((x, y + radius + 4 + _LABEL_HEIGHT / 2, "middle"))
        best: tuple[float, tuple[float, float, str], tuple[float, float, float, float]] | None
        best = None
        for order, (lx, centre_y, anchor) in enumerate(candidates):
            start = {"start": lx, "end": lx - width, "middle": lx - width / 2}[anchor]
            box = (start, centre_y - _LABEL_HEIGHT / 2, start + width, centre_y + _LABEL_HEIGHT / 2)
            outside = box[0] < x_min or box[2] > x_max + 16 or box[1] < y_min or box[3] > y_max
            cost = sum(overlap(box, other) for other in placed) * 4 + covers_bubble(box, own)
            cost += 1e6 if outside else 0.0
            cost += order * 1e-3  # ties go to the earlier, nearer spot
            if best is None or cost < best[0]:
                best = (cost, (lx, centre_y, anchor), box)
            if cost < 1.0:
                break
        assert best is not None
        (lx, centre_y, anchor), box = best[1], best[2]
        placed.append(box)
        result.append((lx, centre_y + 4, anchor, label))
    return result


@dataclass(frozen=True)
class Interval:
    mean: float | None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class BarGroup:
    label: str
    customer: Interval
    employee: Interval  # mean None: no data or withheld
    employee_suppressed: bool = False


def interval_bars(groups: Sequence[BarGroup], *, title: str, description: str) -> Chart:
    """Horizontal bars for both audiences per group (dimension, unit...) with 95% CI whiskers."""
    width = 720
    left, right, top = 150, 24, 34
    bar_h, group_gap = 16, 18
    height = top + len(groups) * (2 * bar_h + group_gap) + 30
    plot_w = width - left - right
    svg = _Svg(width, height, title, description)

    def x_of(score: float) -> float:
        return left + plot_w * _clip(score, 0, 100) / 100

    _legend(svg, left, 18)
    bottom = height - 24
    for tick in range(0, 101, 25):
        svg.line(x_of(tick), top, x_of(tick), bottom)
        svg.text(x_of(tick), bottom + 16, str(tick), size=11, anchor="middle", fill=MUTED)
    rows = []
    for index, group in enumerate(groups):
        y0 = top + index * (2 * bar_h + group_gap) + 4
        svg.text(left - 8, y0 + bar_h + 4, _short(group.label, 22), anchor="end")
        for offset, interval, colour, suppressed in (
            (0, group.customer, CUSTOMER_COLOUR, False),
            (bar_h, group.employee, EMPLOYEE_COLOUR, group.employee_suppressed),
        ):
            y = y0 + offset
            if interval.mean is None:
                note = _("withheld (too few respondents)") if suppressed else _("no data")
                svg.text(left + 4, y + bar_h - 4, note, size=11, fill=MUTED)
                continue
            svg.add(
                f'<rect x="{left}" y="{y + 1}" width="{x_of(interval.mean) - left:.1f}" '
                f'height="{bar_h - 3}" fill="{colour}" fill-opacity="0.85"/>'
            )
            if interval.ci_low is not None and interval.ci_high is not None:
                mid = y + bar_h / 2
                lo, hi = x_of(interval.ci_low), x_of(interval.ci_high)
                svg.line(lo, mid, hi, mid, stroke=INK, width=1.5)
                svg.line(lo, mid - 4, lo, mid + 4, stroke=INK, width=1.5)
                svg.line(hi, mid - 4, hi, mid + 4, stroke=INK, width=1.5)
        rows.append(
            [
                group.label,
                _interval_text(group.customer),
                _("withheld") if group.employee_suppressed else _interval_text(group.employee),
            ]
        )
    headers = [_("Group"), _("Customers (95% CI)"), _("Staff estimate (95% CI)")]
    return Chart(title, description, svg.render(), headers, rows)


def _interval_text(interval: Interval) -> str:
    if interval.mean is None:
        return "-"
    if interval.ci_low is None or interval.ci_high is None:
        return score_text(interval.mean)
    return f"{interval.mean:.0f} ({interval.ci_low:.0f}-{interval.ci_high:.0f})"


def distribution_bars(
    points: Sequence[int],
    customer: dict[int, int] | None,
    employee: dict[int, int] | None,
    *,
    title: str,
    description: str,
    width: int = 720,
    height: int = 260,
) -> Chart:
    """Share of answers at every scale point for both audiences: the extremes stay visible.

    A smaller `width` and `height` draw the same chart for a narrow column (the PDF's
    touchpoint pages put three side by side) with text that stays readable once scaled.
    """
    left, right, top, bottom = 44, 16, 34, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    svg = _Svg(width, height, title, description)
    _legend(svg, left, 18)

    def shares(counts: dict[int, int] | None) -> dict[int, float] | None:
        if counts is None:
            return None
        total = sum(counts.values())
        return {p: (100 * counts.get(p, 0) / total if total else 0.0) for p in points}

    customer_share, employee_share = shares(customer), shares(employee)
    largest = max([0.0, *(customer_share or {}).values(), *(employee_share or {}).values()])
    # The axis stops at the next of 25/50/100 % so that small shares stay readable.
    top_share = next(limit for limit in (25, 50, 100) if largest <= limit)

    def y_of(share: float) -> float:
        return top + plot_h * (1 - share / top_share)

    for tick in range(0, top_share + 1, top_share // 5 if top_share == 25 else top_share // 4):
        svg.line(left, y_of(tick), width - right, y_of(tick))
        svg.text(left - 6, y_of(tick) + 4, f"{tick}%", size=11, anchor="end", fill=MUTED)
    step = plot_w / max(1, len(points))
    bar_w = min(28.0, step / 2 - 3)
    rows = []
    for index, point in enumerate(points):
        centre = left + step * (index + 0.5)
        for shift, share_map, colour in (
            (-bar_w - 1, customer_share, CUSTOMER_COLOUR),
            (1, employee_share, EMPLOYEE_COLOUR),
        ):
            if share_map is None:
                continue
            share = share_map[point]
            svg.add(
                f'<rect x="{centre + shift:.1f}" y="{y_of(share):.1f}" width="{bar_w:.1f}" '
                f'height="{top + plot_h - y_of(share):.1f}" fill="{colour}" fill-opacity="0.85"/>'
            )
        svg.text(centre, height - 14, str(point), size=11, anchor="middle")
        rows.append(
            [
                str(point),
                _count_text(customer, customer_share, point),
                _count_text(employee, employee_share, point),
            ]
        )
    headers = [_("Answer"), _("Customers"), _("Staff estimate")]
    return Chart(title, description, svg.render(), headers, rows)


def _count_text(counts: dict[int, int] | None, shares: dict[int, float] | None, point: int) -> str:
    if counts is None or shares is None:
        return _("withheld")
    return f"{counts.get(point, 0)} ({shares[point]:.0f}%)"


@dataclass(frozen=True)
class TrendPoint:
    label: str
    customer: Interval
    employee: Interval


def trend_lines(points: Sequence[TrendPoint], *, title: str, description: str) -> Chart:
    """Scores per period with their confidence band, for both audiences."""
    width, height = 720, 280
    left, right, top, bottom = 44, 16, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    svg = _Svg(width, height, title, description)
    _legend(svg, left, 18)
    step = plot_w / max(1, len(points))

    def y_of(score: float) -> float:
        return top + plot_h * (1 - _clip(score, 0, 100) / 100)

    for tick in range(0, 101, 25):
        svg.line(left, y_of(tick), width - right, y_of(tick))
        svg.text(left - 6, y_of(tick) + 4, str(tick), size=11, anchor="end", fill=MUTED)
    for audience, colour in (("customer", CUSTOMER_COLOUR), ("employee", EMPLOYEE_COLOUR)):
        upper: list[tuple[float, float]] = []
        lower: list[tuple[float, float]] = []
        line: list[tuple[float, float]] = []
        for index, point in enumerate(points):
            interval: Interval = getattr(point, audience)
            x = left + step * (index + 0.5)
            if interval.mean is None:
                continue
            line.append((x, y_of(interval.mean)))
            if interval.ci_low is not None and interval.ci_high is not None:
                upper.append((x, y_of(interval.ci_high)))
                lower.append((x, y_of(interval.ci_low)))
        if len(upper) > 1:
            band = " ".join(f"{x:.1f},{y:.1f}" for x, y in [*upper, *reversed(lower)])
            svg.add(f'<polygon points="{band}" fill="{colour}" fill-opacity="0.12"/>')
        if len(line) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            svg.add(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in line:
            svg.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
    label_every = max(1, -(-len(points) // 6))  # at most six labels: dates are wide
    for index, point in enumerate(points):
        if index % label_every == 0:
            x = left + step * (index + 0.5)
            svg.text(x, height - 20, point.label, size=11, anchor="middle", fill=MUTED)
    rows = [
        [point.label, _interval_text(point.customer), _interval_text(point.employee)]
        for point in points
    ]
    headers = [_("Period"), _("Customers (95% CI)"), _("Staff estimate (95% CI)")]
    return Chart(title, description, svg.render(), headers, rows)

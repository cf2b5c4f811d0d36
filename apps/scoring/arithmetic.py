"""The statistics of SCORING.md sections 2-7 on plain numbers: no database, no Django."""

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from math import isfinite, sqrt

import numpy as np
import numpy.typing as npt
from scipy import stats

from apps.scoring.figures import (
    CellStats,
    Classification,
    GapStats,
    ImportanceSource,
    Moments,
    NpsStats,
    ScoringSettings,
    TrendRow,
    TrendStatus,
    ValueCounts,
)

# Pairs needed before the Spearman correlation replaces the declared importance (section 6).
DERIVED_IMPORTANCE_MIN_PAIRS = 30

# Sums of squared deviations computed from stored sums lose a few ulps to cancellation, so a
# constant cell can come out as 1e-13 instead of 0. Genuine spreads of scale points are many
# orders of magnitude above this share of the sum of squares, even at tens of millions of answers.
_ZERO_VARIANCE_RELATIVE = 1e-11


def normalise(x: float, lo: int, hi: int) -> float:
    """Map a raw value on the scale lo..hi to 0-100 (section 2)."""
    return 100.0 * (x - lo) / (hi - lo)


def _normalised_exact(value: int, lo: int, hi: int) -> Fraction:
    return Fraction(100 * (value - lo), hi - lo)


def moments_from_counts(counts: ValueCounts) -> Moments:
    """Moments of the normalised values of one item cell, over every scale it was asked on."""
    n = 0
    total = Fraction(0)
    total_sq = Fraction(0)
    # Exact sums rounded once, so the same answers give bit-identical moments whatever the
    # order they were aggregated in.
    for (lo, hi, value), count in counts.counts.items():
        if count <= 0:
            continue
        s = _normalised_exact(value, lo, hi)
        n += count
        total += count * s
        total_sq += count * s * s
    return Moments(n=n, total=float(total), total_sq=float(total_sq))


def moments_from_values(values: Iterable[float]) -> Moments:
    """Moments of already normalised values (per-respondent scores, tests)."""
    n = 0
    total = 0.0
    total_sq = 0.0
    for s in values:
        n += 1
        total += s
        total_sq += s * s
    return Moments(n=n, total=total, total_sq=total_sq)


def mean_of(moments: Moments) -> float | None:
    if moments.n <= 0:
        return None
    return moments.total / moments.n


def variance_of(moments: Moments) -> float | None:
    """Sample variance (divisor n - 1); None below two values."""
    if moments.n < 2:
        return None
    squared_deviations = moments.total_sq - moments.total * moments.total / moments.n
    if squared_deviations <= _ZERO_VARIANCE_RELATIVE * abs(moments.total_sq):
        return 0.0
    return squared_deviations / (moments.n - 1)


def _finite(x: float | None) -> float | None:
    if x is None or not isfinite(x):
        return None
    return float(x)


@lru_cache(maxsize=8192)
def _t_quantile(df: float) -> float:
    """Student's t 0.975 quantile. Remembered per df: scipy takes ~0.15 ms a call, and a
    comparison page asks for ~300 cells' intervals, mostly the same counts as its last read."""
    return float(stats.t.ppf(0.975, df))


def distribution_of(counts: ValueCounts) -> dict[int, int]:
    """Answers per raw scale point, every point of every scale present (zeros included)."""
    distribution: dict[int, int] = {}
    for lo, hi in sorted({(lo, hi) for lo, hi, _ in counts.counts}):
        for point in range(lo, hi + 1):
            distribution.setdefault(point, 0)
    for (_, _, value), count in counts.counts.items():
        if count > 0:
            distribution[value] = distribution.get(value, 0) + count
    return dict(sorted(distribution.items()))


def box_points(lo: int, hi: int) -> int:
    """How many scale points the top box (and the bottom box) spans on lo..hi."""
    return 2 if hi - lo + 1 >= 5 else 1


def box_shares(counts: ValueCounts) -> tuple[float | None, float | None]:
    """(top_box, bottom_box) as shares 0-100; each answer is judged on its own scale."""
    n = top = bottom = 0
    for (lo, hi, value), count in counts.counts.items():
        if count <= 0:
            continue
        width = box_points(lo, hi)
        n += count
        if value > hi - width:
            top += count
        if value < lo + width:
            bottom += count
    if n == 0:
        return None, None
    return 100.0 * top / n, 100.0 * bottom / n


def cell_stats(moments: Moments, counts: ValueCounts | None = None) -> CellStats:
    """Section 3 for one cell. `counts` (item cells only) adds the distribution and the boxes;
    n and the moments always come from `moments`."""
    n = moments.n
    mean = mean_of(moments)
    variance = variance_of(moments)
    se = ci_low = ci_high = None
    if variance is not None and mean is not None:
        se = sqrt(variance / n)
        half_width = _t_quantile(n - 1) * se
        ci_low, ci_high = mean - half_width, mean + half_width
    distribution = top_box = bottom_box = None
    if counts is not None:
        distribution = distribution_of(counts)
        top_box, bottom_box = box_shares(counts)
    return CellStats(
        n=n,
        mean=_finite(mean),
        variance=_finite(variance),
        se=_finite(se),
        ci_low=_finite(ci_low),
        ci_high=_finite(ci_high),
        distribution=distribution,
        top_box=top_box,
        bottom_box=bottom_box,
    )


def suppressed_cell(reason: str = "too_few") -> CellStats:
    """An employee cell withheld for anonymity: not even n is readable."""
    return CellStats(
        n=None,
        mean=None,
        variance=None,
        se=None,
        ci_low=None,
        ci_high=None,
        distribution=None,
        top_box=None,
        bottom_box=None,
        suppressed=True,
        suppressed_reason=reason,
    )


def is_suppressed(employee: Moments, settings: ScoringSettings) -> bool:
    # Zero answers is withheld too: otherwise "suppressed" would reveal that 1-4 staff answered.
    return employee.n < settings.employee_anonymity_min


def employee_cell_stats(
    moments: Moments,
    settings: ScoringSettings,
    counts: ValueCounts | None = None,
    withheld: str = "",
) -> CellStats:
    """`withheld`: the reason the differencing rule withholds the cell (apps.scoring.anonymity),
    whatever its n."""
    if withheld:
        return suppressed_cell(withheld)
    if is_suppressed(moments, settings):
        return suppressed_cell()
    return cell_stats(moments, counts)


def nps_stats(counts: ValueCounts) -> NpsStats:
    """Promoters 9-10, passives 7-8, detractors 0-6 on 0-10 (section 3)."""
    promoters = passives = detractors = 0
    for (lo, hi, value), count in counts.counts.items():
        if count <= 0:
            continue
        # Compared on the normalised value (90 and 70 points) in integers, so that an nps key
        # asked on another scale in an old version still splits sensibly; on 0-10 this is 9 / 7.
        if 10 * (value - lo) >= 9 * (hi - lo):
            promoters += count
        elif 10 * (value - lo) >= 7 * (hi - lo):
            passives += count
        else:
            detractors += count
    n = promoters + passives + detractors
    nps = 100.0 * (promoters - detractors) / n if n else None
    return NpsStats(n=n, promoters=promoters, passives=passives, detractors=detractors, nps=nps)


def suppressed_nps() -> NpsStats:
    return NpsStats(
        n=None, promoters=None, passives=None, detractors=None, nps=None, suppressed=True
    )


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of mean(a) - mean(b)."""

    difference: float | None
    t: float | None
    df: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def testable(self) -> bool:
        return self.p_value is not None


def welch(a: Moments, b: Moments) -> Welch:
    """Never raises: figures that cannot be computed (n < 2, zero variance on both sides)
    are None, the difference is given whenever both sides have a mean."""
    mean_a, mean_b = mean_of(a), mean_of(b)
    difference = mean_a - mean_b if mean_a is not None and mean_b is not None else None
    var_a, var_b = variance_of(a), variance_of(b)
    if difference is None or var_a is None or var_b is None:
        return Welch(difference, None, None, None, None, None)
    share_a, share_b = var_a / a.n, var_b / b.n
    se_squared = share_a + share_b
    if se_squared <= 0.0:
        return Welch(difference, None, None, None, None, None)
    se = sqrt(se_squared)
    t = difference / se
    # A zero-variance side contributes nothing to the denominator; the other side keeps it > 0.
    df = se_squared**2 / (share_a**2 / (a.n - 1) + share_b**2 / (b.n - 1))
    p_value = float(2.0 * stats.t.sf(abs(t), df))
    half_width = _t_quantile(df) * se
    return Welch(
        difference=_finite(difference),
        t=_finite(t),
        df=_finite(df),
        p_value=_finite(min(p_value, 1.0)),
        ci_low=_finite(difference - half_width),
        ci_high=_finite(difference + half_width),
    )


def classify(
    customer: Moments, employee: Moments, test: Welch, settings: ScoringSettings
) -> Classification:
    """Section 5, in its order."""
    if customer.n < settings.min_n or employee.n < settings.min_n:
        return "insufficient_data"
    # Also covers min_n set below 2, where no variance (hence no test) exists.
    if test.difference is None or test.p_value is None:
        return "insufficient_data"
    if test.difference >= settings.gap_threshold and test.p_value < settings.alpha:
        return "blind_spot"
    if test.difference <= -settings.gap_threshold and test.p_value < settings.alpha:
        return "hidden_strength"
    return "aligned"


def gap_stats(
    customer: Moments, employee: Moments, settings: ScoringSettings, withheld: bool = False
) -> GapStats:
    """Gap = employee - customer with Welch's figures; nothing of a withheld employee cell."""
    if withheld or is_suppressed(employee, settings):
        return GapStats(
            gap=None,
            t=None,
            df=None,
            p_value=None,
            ci_low=None,
            ci_high=None,
            classification="insufficient_data",
        )
    test = welch(employee, customer)
    return GapStats(
        gap=test.difference,
        t=test.t,
        df=test.df,
        p_value=test.p_value,
        ci_low=test.ci_low,
        ci_high=test.ci_high,
        classification=classify(customer, employee, test, settings),
    )


def spearman(pairs: Iterable[tuple[float, float]] | npt.NDArray[np.float64]) -> float | None:
    """Spearman's rho with average ranks for ties; None below two pairs or without spread.

    `pairs` is (x, y) tuples as a query returns them, or an (n, 2) array.
    """
    data = np.asarray(pairs if isinstance(pairs, np.ndarray) else list(pairs), dtype=float)
    if data.ndim != 2 or data.shape[0] < 2:
        return None
    x_ranks = stats.rankdata(data[:, 0]) - (data.shape[0] + 1) / 2.0
    y_ranks = stats.rankdata(data[:, 1]) - (data.shape[0] + 1) / 2.0
    x_spread = float(np.dot(x_ranks, x_ranks))
    y_spread = float(np.dot(y_ranks, y_ranks))
    if x_spread <= 0.0 or y_spread <= 0.0:
        return None
    rho = float(np.dot(x_ranks, y_ranks)) / sqrt(x_spread * y_spread)
    return _finite(max(-1.0, min(1.0, rho)))


def declared_weight(declared_importance: int) -> float:
    return (declared_importance - 1) / 4.0


def importance(
    declared_importance: int, rho: float | None, pairs: int
) -> tuple[float, ImportanceSource]:
    """Section 6: the correlation once there are enough pairs, else the declared 1-5."""
    if rho is not None and isfinite(rho) and pairs >= DERIVED_IMPORTANCE_MIN_PAIRS:
        return max(0.0, float(rho)), "derived"
    return declared_weight(declared_importance), "declared"


def trend(current: Moments, previous: Moments, settings: ScoringSettings) -> TrendRow:
    """Section 7: the customer score now against the previous period of equal length."""
    test = welch(current, previous)
    status: TrendStatus
    too_few = current.n < settings.min_n or previous.n < settings.min_n
    if too_few or test.difference is None or test.p_value is None:
        status = "insufficient_data"
    elif test.p_value < settings.alpha and test.difference >= settings.gap_threshold / 2:
        status = "improved"
    elif test.p_value < settings.alpha and test.difference <= -settings.gap_threshold / 2:
        status = "declined"
    else:
        status = "stable"
    return TrendRow(change=test.difference, p_value=test.p_value, status=status)

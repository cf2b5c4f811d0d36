"""What the processing pipeline stores: additive daily aggregates, never raw answers again.

Every figure of a gap report is a sum of these rows over the days and attribute sets a filter
selects (SCORING.md section 3). Item cells are stored as counts per raw value, so that n, sum,
sum of squares, the distribution, top/bottom box and NPS all follow exactly (integers, no
floating-point drift between incremental processing and a full rescoring). Touchpoint scores are
means of several answers, so their cells are stored as (n, sum, sum of squares) of the
per-respondent scores.

The three aggregate tables are derived data, written in bulk by the pipeline and rebuilt by a
rescoring. Their references are not indexed beyond the keys the pipeline and the reports use,
and not enforced by database constraints (`_derived`): every batch would otherwise check one
reference per column and row at commit, which costs more than the aggregation itself. Deletes
still cascade through the ORM, and a rescoring rebuilds a journey from its raw answers.
"""

from typing import Any

from django.db import models

from apps.core.tenancy import TenantModel
from apps.surveys.models import Audience


def _derived(to: "str | type[models.Model]", **kwargs: Any) -> Any:
    """A reference from an aggregate row: no index of its own, no database constraint."""
    kwargs.setdefault("on_delete", models.CASCADE)
    kwargs.setdefault("related_name", "+")
    return models.ForeignKey(to, db_index=False, db_constraint=False, **kwargs)


class AttributeSet(TenantModel):
    """One distinct combination of segment attributes, stored once per organisation.

    Responses and aggregates point at it; a filter selects the sets whose values match and sums
    their rows (DESIGN.md: never the cross-product of all values).
    """

    # {"region": "south", "store": "espoo"}: keys sorted, values strings.
    values = models.JSONField(default=dict)
    # sha256 of the canonical JSON of `values`.
    digest = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "digest"], name="attribute_set_unique_digest"
            )
        ]

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.values.items())) or "-"


class ItemDayCount(TenantModel):
    """How many answers of one audience gave one raw value to one item, per day and set."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    # The item key is stable across versions and shared by the customer/employee twins:
    # "tp:<touchpoint id>:<dimension>", "nps", "overall", "custom:<hex>".
    item_key = models.CharField(max_length=64)
    kind = models.CharField(max_length=24)
    touchpoint = _derived("journeys.Touchpoint", null=True, blank=True)
    dimension = models.CharField(max_length=16, blank=True, default="")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    # The response's day in the organisation's time zone (Response.submitted_on).
    day = models.DateField()
    scale_lo = models.SmallIntegerField()
    scale_hi = models.SmallIntegerField()
    value = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "item_key",
                    "audience",
                    "attribute_set",
                    "day",
                    "scale_lo",
                    "scale_hi",
                    "value",
                ],
                name="item_day_count_key",
            )
        ]
        # A read names its audience and items (a segment's customers, the previous period's
        # NPS alone, the employees' blocks): they lead, so it reads only their rows of the days.
        indexes = [
            models.Index(
                fields=["journey", "audience", "item_key", "day"],
                name="item_day_count_journey_item",
            )
        ]

    def __str__(self) -> str:
        return f"{self.audience}:{self.item_key}@{self.day}={self.value}x{self.count}"


class TouchpointDayAggregate(TenantModel):
    """Moments of the per-respondent touchpoint scores (SCORING.md section 4), per day and set."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    day = models.DateField()
    n = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "touchpoint",
                    "audience",
                    "attribute_set",
                    "day",
                ],
                name="touchpoint_day_aggregate_key",
            )
        ]
        indexes = [
            models.Index(fields=["journey", "day"], name="touchpoint_day_journey_day"),
        ]

    def __str__(self) -> str:
        return f"{self.audience}:tp{self.touchpoint_id}@{self.day} n={self.n}"


class RespondentScore(TenantModel):
    """One customer's touchpoint score, kept for derived importance (Spearman against the
    outcome answer) and for alerts. Customers only: employees get no per-person rows."""

    organization = _derived("organizations.Organization")
    response = _derived("responses.Response", related_name="touchpoint_scores")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    day = models.DateField()
    score = models.FloatField()
    # The respondent's outcome answer normalised to 0-100 (nps if the journey asks it, else
    # overall), NULL when not answered: importance reads pairs from this one table.
    outcome = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response", "touchpoint"], name="respondent_score_unique"
            )
        ]
        indexes = [models.Index(fields=["journey", "day"], name="respondent_score_journey_day")]

    def __str__(self) -> str:
        return f"response {self.response_id} tp{self.touchpoint_id}={self.score:.1f}"


# --- the same figures summed over attribute sets -------------------------------------------
#
# A report without a segment filter (the dashboard's default) sums every attribute set. The
# per-set rows grow with sets x days (a new store multiplies them), so reading them makes the
# default report slower as data accumulates; these rollups hold one row per item, audience,
# day and value (per touchpoint and day; per pair of values) whatever the number of sets. The
# pipeline writes them in the same statement as the per-set rows, a rescoring rebuilds them
# with the rest, and a segment filter reads the per-set tables.


class ItemDayTotal(TenantModel):
    """ItemDayCount summed over attribute sets."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    item_key = models.CharField(max_length=64)
    audience = models.CharField(max_length=16, choices=Audience.choices)
    day = models.DateField()
    scale_lo = models.SmallIntegerField()
    scale_hi = models.SmallIntegerField()
    value = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "item_key",
                    "audience",
                    "day",
                    "scale_lo",
                    "scale_hi",
                    "value",
                ],
                name="item_day_total_key",
            )
        ]
        indexes = [models.Index(fields=["journey", "day"], name="item_day_total_journey_day")]

    def __str__(self) -> str:
        return f"{self.audience}:{self.item_key}@{self.day}={self.value}x{self.count}"


class TouchpointDayTotal(TenantModel):
    """TouchpointDayAggregate summed over attribute sets."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    day = models.DateField()
    n = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "touchpoint", "audience", "day"],
                name="touchpoint_day_total_key",
            )
        ]
        indexes = [models.Index(fields=["journey", "day"], name="touchpoint_total_journey_day")]

    def __str__(self) -> str:
        return f"{self.audience}:tp{self.touchpoint_id}@{self.day} n={self.n}"


class ImportancePairDayCount(TenantModel):
    """How many customers gave one touchpoint score together with one outcome, per day: the
    RespondentScore rows with an outcome, counted over respondents and attribute sets. Derived
    importance ranks exactly these pairs (the scores are the very values stored per
    respondent), so reading them gives the same Spearman's rho."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    day = models.DateField()
    score = models.FloatField()
    outcome = models.FloatField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "questionnaire", "touchpoint", "day", "score", "outcome"],
                name="importance_pair_day_key",
            )
        ]
        indexes = [models.Index(fields=["journey", "day"], name="importance_pair_journey_day")]

    def __str__(self) -> str:
        return f"tp{self.touchpoint_id}@{self.day} ({self.score}, {self.outcome})x{self.count}"


class ImportancePairSetMonthCount(TenantModel):
    """ImportancePairDayCount per attribute set and calendar month: what derived importance
    under a segment (a filter, or each value of a comparison) reads for the whole months of its
    period, with its weeks and quarters (ImportancePairSetSpanCount) and the customers'
    RespondentScore rows of the days at its edges (see `selectors.pair_counts_by_set`). Per
    set and month, a touchpoint's pairs take at most as many rows as its scores and outcomes
    have pairs of values, whatever the number of customers; short of that bound the rows still
    grow, more slowly than the customers (in bench/dashboard_read.py: 126k rows at 1M answers,
    306k at 10M)."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    month = models.DateField()  # its first day
    score = models.FloatField()
    outcome = models.FloatField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "touchpoint",
                    "attribute_set",
                    "month",
                    "score",
                    "outcome",
                ],
                name="importance_pair_set_month_key",
            )
        ]
        indexes = [models.Index(fields=["journey", "month"], name="pair_set_journey_month")]

    def __str__(self) -> str:
        return (
            f"tp{self.touchpoint_id}@{self.month:%Y-%m} set {self.attribute_set_id} "
            f"({self.score}, {self.outcome})x{self.count}"
        )


class PairSpan(models.TextChoices):
    """The buckets importance pairs are counted in besides days: ImportancePairSpanCount holds
    all three, ImportancePairSetSpanCount weeks and quarters (the months per set have their own
    table, ImportancePairSetMonthCount), ImportancePairValueSpanCount months."""

    # A month's days 1-7, 8-14, 15-21 and 22 to its end (7 to 10 days): weeks that nest in
    # their month, so that a period's edges inside a month cost at most three days of rows.
    WEEK = "week", "week"
    MONTH = "month", "month"
    # A calendar quarter: three months of a long period in one bucket.
    QUARTER = "quarter", "quarter"


class TouchpointSpanAggregate(TenantModel):
    """TouchpointDayAggregate per week, month and quarter (`PairSpan`, `start` the span's first
    day): a comparison of segments reads a period's customers' moments per attribute set from
    the buckets inside it and days only at its edges (never a bucket less days: sums of floats
    are only added), so a year takes a few buckets' rows instead of 365 days' per set."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    audience = models.CharField(max_length=16, choices=Audience.choices)
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    span = models.CharField(max_length=8, choices=PairSpan.choices)
    start = models.DateField()
    n = models.PositiveIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "touchpoint",
                    "audience",
                    "attribute_set",
                    "span",
                    "start",
                ],
                name="touchpoint_span_aggregate_key",
            )
        ]
        indexes = [
            models.Index(fields=["journey", "span", "start"], name="touchpoint_span_journey")
        ]

    def __str__(self) -> str:
        return f"tp{self.touchpoint_id} {self.audience}@{self.span} {self.start} n={self.n}"


class ItemSpanCount(TenantModel):
    """Customers' ItemDayCount per month (`span` "month", `start` its first day): a segment
    filter reads a period's item counts per attribute set from the months inside it, a month
    less its days outside or days only at its edges (`selectors.pair_plan`), so that its rows
    stop growing with the days once a set's months hold every (item, value). Months only:
    each bucket kept costs the scoring batch an upsert of its item rows, and weeks and
    quarters as well cost the drain 13% (bench/README.md). Employees' items are read per staff
    block, not from here."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    item_key = models.CharField(max_length=64)
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    span = models.CharField(max_length=8, choices=PairSpan.choices)
    start = models.DateField()
    scale_lo = models.SmallIntegerField()
    scale_hi = models.SmallIntegerField()
    value = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "item_key",
                    "attribute_set",
                    "span",
                    "start",
                    "scale_lo",
                    "scale_hi",
                    "value",
                ],
                name="item_span_count_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["journey", "item_key", "span", "start"], name="item_span_journey_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.item_key}@{self.span} {self.start} {self.value}: {self.count}"


class ImportancePairSpanCount(TenantModel):
    """ImportancePairDayCount per week, month and quarter (`PairSpan`, `start` the span's first
    day): derived importance without a segment filter reads a period from the coarsest buckets
    inside it, and days (ImportancePairDayCount) only at its edges. A bucket's rows are at most
    a touchpoint's (score, outcome) pairs of values, whatever its length: a year takes a few
    thousand rows where its days took ~200k (bench/dashboard_read.py at 10M answers)."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    span = models.CharField(max_length=8, choices=PairSpan.choices)
    start = models.DateField()
    score = models.FloatField()
    outcome = models.FloatField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "touchpoint",
                    "span",
                    "start",
                    "score",
                    "outcome",
                ],
                name="importance_pair_span_key",
            )
        ]
        indexes = [models.Index(fields=["journey", "span", "start"], name="pair_journey_span")]

    def __str__(self) -> str:
        return (
            f"tp{self.touchpoint_id}@{self.span} {self.start} "
            f"({self.score}, {self.outcome})x{self.count}"
        )


class ImportancePairSetSpanCount(TenantModel):
    """ImportancePairSetMonthCount's pairs per attribute set for the other spans (`PairSpan`),
    `start` the span's first day. With the months they let `selectors.pair_counts_by_set` read
    a period from the coarsest buckets inside it: a year mostly as quarters, whose rows per set
    stop growing sooner than a month's (bench/dashboard_read.py at 10M answers: ~30k rows a
    quarter against ~24k a month), and the days at its edges as weeks plus at most three days
    of customers' rows (a week: ~16k rows against ~55k for seven days' customers)."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    attribute_set = _derived(AttributeSet, on_delete=models.RESTRICT)
    span = models.CharField(max_length=8, choices=PairSpan.choices)
    start = models.DateField()
    score = models.FloatField()
    outcome = models.FloatField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "questionnaire",
                    "touchpoint",
                    "attribute_set",
                    "span",
                    "start",
                    "score",
                    "outcome",
                ],
                name="importance_pair_set_span_key",
            )
        ]
        indexes = [models.Index(fields=["journey", "span", "start"], name="pair_set_journey_span")]

    def __str__(self) -> str:
        return (
            f"tp{self.touchpoint_id}@{self.span} {self.start} set {self.attribute_set_id} "
            f"({self.score}, {self.outcome})x{self.count}"
        )


# The longest attribute name and value ImportancePairValueSpanCount holds (segment values come
# from links and contact lists, cut to 100 characters; anything longer is read per set).
VALUE_SLICE_NAME_MAX = 100
VALUE_SLICE_VALUE_MAX = 200


class ImportancePairValueSpanCount(TenantModel):
    """The importance pairs per attribute set and month of ImportancePairSetMonthCount summed
    per value of each attribute of the sets: the pairs of all customers whose segment has
    `attribute` = `value`. A segment filter on one attribute, or a comparison of one
    attribute's values, reads its months here (`selectors.pair_counts_by_set`'s `values`): a
    touchpoint's pairs per value and month take at most as many rows as its scores and outcomes
    have pairs of values, where the same customers' pairs per set take that many rows per set
    (bench/dashboard_read.py at 10M answers: "channel web", 25 sets, ~12k rows a month per set,
    ~900 here). Quarters, weeks and days stay per set (`selectors._VALUE_MONTH_COST` weighs a
    quarter per set against three months per value). Months only (`span` "month"): quarters
    as well cost the scoring batch ~7%. Only string values no longer than
    VALUE_SLICE_VALUE_MAX (as the pipeline stores every segment) of names no longer than
    VALUE_SLICE_NAME_MAX are held."""

    organization = _derived("organizations.Organization")
    journey = _derived("journeys.Journey")
    questionnaire = _derived("surveys.Questionnaire")
    touchpoint = _derived("journeys.Touchpoint")
    attribute = models.CharField(max_length=VALUE_SLICE_NAME_MAX)
    value = models.CharField(max_length=VALUE_SLICE_VALUE_MAX)
    span = models.CharField(max_length=8, choices=PairSpan.choices)  # month
    start = models.DateField()
    score = models.FloatField()
    outcome = models.FloatField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                # The journey, attribute and bucket first: the reads and a rescoring's diff use
                # this index, the only one the batches keep up here (the journey follows from
                # the questionnaire: a key column only for the order).
                fields=[
                    "journey",
                    "attribute",
                    "span",
                    "start",
                    "value",
                    "organization",
                    "questionnaire",
                    "touchpoint",
                    "score",
                    "outcome",
                ],
                name="importance_pair_value_span_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"tp{self.touchpoint_id}@{self.span} {self.start} {self.attribute}={self.value} "
            f"({self.score}, {self.outcome})x{self.count}"
        )


class ScoringState(TenantModel):
    """Per journey: a counter bumped by every batch that changes its aggregates, so that
    cached derived figures (importance) know when new data has arrived."""

    journey = models.OneToOneField(
        "journeys.Journey", on_delete=models.CASCADE, related_name="scoring_state"
    )
    version = models.BigIntegerField(default=0)
    # Bumped (with `version`) only by changes to days before the organisation's today: what the
    # figures of settled days cached across batches (`selectors.pair_counts_by_set`) depend on.
    settled_version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    rescored_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"journey {self.journey_id} v{self.version}"

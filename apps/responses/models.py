"""One respondent's answers to one version of a questionnaire.

Written once, in one transaction (a Response and a bulk insert of its Answers), and never
edited; the scoring pipeline reads them. A response not yet counted has a PendingResponse,
written with it and deleted by the batch that counts it. Employee responses carry no address,
user agent, account or exact time: only the date.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.tenancy import TenantModel
from apps.surveys.models import Audience


class Response(TenantModel):
    # Indexed by the unique (organization, id) below, which the answers' composite foreign key
    # references; a second index on organization alone would be written for nothing.
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Indexed by response_q_day (questionnaire, submitted_on), which starts with it.
    questionnaire = models.ForeignKey(
        "surveys.Questionnaire", on_delete=models.RESTRICT, related_name="responses",
        db_index=False,
    )  # fmt: skip
    version = models.ForeignKey(
        "surveys.QuestionnaireVersion", on_delete=models.RESTRICT, related_name="responses"
    )
    audience = models.CharField(_("audience"), max_length=16, choices=Audience.choices)
    link = models.ForeignKey(
        "distribution.SurveyLink",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="responses",
    )
    segment = models.JSONField(_("segment"), default=dict, blank=True)
    # Issued with the form: a double submit or a retry inserts nothing new.
    idempotency_key = models.UUIDField(unique=True)
    submitted_on = models.DateField(_("submitted on"))
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    language = models.CharField(_("language"), max_length=8)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ("-submitted_on", "-id")
        indexes = [
            models.Index(fields=["questionnaire", "submitted_on"], name="response_q_day"),
        ]
        constraints = [
            # What the answers' (organization, response) foreign key references.
            models.UniqueConstraint(fields=["organization", "id"], name="response_organization_id"),
            models.CheckConstraint(
                condition=Q(audience=Audience.CUSTOMER)
                | Q(submitted_at__isnull=True, ip_address__isnull=True, user_agent=""),
                name="response_employee_anonymous",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.audience} response {self.pk}"


class PendingResponse(TenantModel):
    """A response the scoring pipeline has not counted yet: one narrow row, written with the
    response (on PostgreSQL in the same statement) and deleted by the batch that counts it (or
    the rescoring that does). Responses themselves are never updated, so their rows and indexes
    are written once.

    Holds no time of its own: an employee response's processing must not date its answers.
    On PostgreSQL one composite foreign key (organization, response) -> the response's
    (organization, id), ON DELETE CASCADE, stands for the two single ones (migration 0006), as
    for the answers; the primary key (the response id) is the only index: batches walk it in id
    order.
    """

    response = models.OneToOneField(
        Response, on_delete=models.CASCADE, primary_key=True, related_name="pending",
        db_constraint=False,
    )  # fmt: skip
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+",
        db_index=False, db_constraint=False,
    )  # fmt: skip

    class Meta:
        ordering = ("response_id",)

    def __str__(self) -> str:
        return f"pending response {self.pk}"


class Answer(TenantModel):
    # No index of their own: (response, item) is unique, which indexes lookups by response, and
    # the item column keeps the one index below. Each index is written on every answer stored.
    #
    # On PostgreSQL one composite foreign key, (organization, response) -> the response's
    # (organization, id), stands for the two single ones (migration 0004): the response exists
    # and the answer belongs to the response's organisation (which the response's own foreign key
    # guarantees exists), checked once per answer instead of twice. Answers are read by response
    # or by item, never by organisation alone, so organisation has no index either.
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.CASCADE, related_name="+",
        db_index=False, db_constraint=False,
    )  # fmt: skip
    response = models.ForeignKey(
        Response, on_delete=models.CASCADE, related_name="answers", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    item = models.ForeignKey(
        "surveys.Item", on_delete=models.RESTRICT, related_name="answers", db_index=False
    )
    value = models.SmallIntegerField(null=True, blank=True)
    not_applicable = models.BooleanField(default=False)
    text = models.TextField(blank=True)
    choices = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ("response_id", "id")
        constraints = [
            models.UniqueConstraint(fields=["response", "item"], name="answer_unique_item")
        ]
        indexes = [models.Index(fields=["item"], name="answer_item")]

    def __str__(self) -> str:
        return f"answer {self.pk} to item {self.item_id}"

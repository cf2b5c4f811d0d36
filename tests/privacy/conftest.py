"""Privacy tests: one customer, Maija, left traces everywhere personal data lives; the
scoring tests' journey and the consent tests' link (contact questions added) carry them."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from apps.alerts.consent import CONSENT_KEY
from apps.alerts.models import Alert, AlertEvent
from apps.core.tenancy import TenantModel
from apps.distribution.models import (
    Campaign,
    Contact,
    ContactImport,
    ContactList,
    Suppression,
    SurveyInvitation,
)
from apps.organizations.models import Invitation
from apps.organizations.permissions import Principal
from apps.reports.models import DeliveryRecipient, ReportDelivery
from apps.reports.services import schedule_create
from apps.responses.selectors import respondent_items
from apps.responses.services import Respondent, field_name, response_submit
from apps.surveys.models import ItemKind
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests.alerts.conftest import journey, process, rating_key  # noqa: F401 - fixtures
from tests.alerts.test_consent import DETAILS, link  # noqa: F401 - a fixture
from tests.scoring.conftest import (  # noqa: F401 - fixtures
    _fresh_cache,
    scoring_journey,
    scoring_questionnaire,
)

EMAIL = DETAILS["contact:email"]  # maija@example.fi


def submit(link, journey, extra: dict[str, str], *, email_consent: bool = True):  # noqa: F811
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    web = journey.touchpoints_in_order[0]
    answers = {rating_key(web, "ease"): "1", "nps": "3", "overall": "4", **extra}
    data = {}
    for item in items:
        if item.kind == ItemKind.SCREENING:
            data[field_name(item)] = ["yes" if item.touchpoint_id == web.pk else "no"]
        elif item.key in answers:
            data[field_name(item)] = [answers[item.key]]
    respondent = Respondent(
        idempotency_key=uuid.uuid4(),
        language="en",
        started_at=timezone.now() - timedelta(seconds=60),
        segment={},
        ip_address="203.0.113.9",
        user_agent="Mozilla/5.0 (Maija's phone)",
    )
    return response_submit(link=link, items=items, data=data, respondent=respondent)


@dataclass
class Traces:
    response: Any
    alert: Alert
    contact: Contact
    invitation: SurveyInvitation
    member_invitation: Invitation


def leave_traces(org, link, journey, email: str = EMAIL) -> Traces:  # noqa: F811
    """Everything an organisation may hold about one customer."""
    response = submit(link, journey, {CONSENT_KEY: "yes", **DETAILS, "contact:email": email})
    process(org)
    alert = Alert.objects.for_organization(org).get(response=response)
    Alert.objects.for_organization(org).filter(pk=alert.pk).update(
        resolution_note=f"Called {email.upper()}, sorted."
    )
    AlertEvent.objects.create(
        organization=org, alert=alert, kind="status", actor_label="system",
        data={"from": "new", "to": "resolved", "note": f"Called {email}"},
    )  # fmt: skip
    contacts = ContactList.objects.create(organization=org, name="Customers", audience="customer")
    contact = Contact.objects.create(
        organization=org, contact_list=contacts, email=email, name="Maija", attributes={"x": 1}
    )
    ContactImport.objects.create(
        organization=org, contact_list=contacts, file_name="c.csv", file_format="csv",
        content=f"email\n{email}\n".encode(), columns=["email"],
        rejected=[[2, "duplicate", email]],
    )  # fmt: skip
    campaign = Campaign.objects.create(
        organization=org, name="Spring", questionnaire=link.questionnaire, audience="customer",
        contact_list=contacts, subjects={"en": "Hi"}, bodies={"en": "{{ link }}"},
    )  # fmt: skip
    invitation = SurveyInvitation.objects.create(
        organization=org, campaign=campaign, contact=contact, email=email, name="Maija",
        status="sent", sent_count=1,
    )  # fmt: skip
    Suppression.objects.create(organization=org, reason="unsubscribed", email=email)
    system = Principal(organization=org, role="owner")
    schedule = schedule_create(
        organization=org, actor=system, journey=journey, frequency="weekly", weekday=0,
        hour=8, period="last_7_days", recipients=[email],
    )  # fmt: skip
    delivery = ReportDelivery.objects.create(
        organization=org, schedule=schedule, due_at=timezone.now(),
        period_start=timezone.localdate(), period_end=timezone.localdate(), language="en",
    )  # fmt: skip
    DeliveryRecipient.objects.create(
        organization=org, delivery=delivery, email=email, status="sent"
    )
    member_invitation = Invitation.objects.create(
        organization=org, email=email,
        token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        expires_at=timezone.now() - timedelta(days=1),
    )  # fmt: skip
    endpoint = WebhookEndpoint.objects.create(
        organization=org, url="http://127.0.0.1:9/x", events=["alert.created"], secret="whsec_x"
    )
    event = WebhookEvent.objects.create(
        organization=org, type="alert.created", body=f'{{"contact": {{"email": "{email}"}}}}',
        created_at=timezone.now(),
    )  # fmt: skip
    WebhookDelivery.objects.create(organization=org, endpoint=endpoint, event=event)
    return Traces(response, alert, contact, invitation, member_invitation)


def tenant_tables() -> list[type[TenantModel]]:
    return [m for m in apps.get_models() if issubclass(m, TenantModel)]


def tables_mentioning(organization_id: int, text: str) -> dict[str, int]:
    """Rows of the organisation, per table, whose text or JSON columns contain `text` in any
    case: read from the database's own catalogue, so a column nobody thought of counts too."""
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for model in tenant_tables():
            table = model._meta.db_table
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s AND data_type IN "
                "('character varying', 'text', 'jsonb', 'json', 'bytea')",
                [table],
            )
            for column, data_type in cursor.fetchall():
                value = f'"{column}"::text'
                if data_type == "bytea":
                    value = f"encode(\"{column}\", 'escape')"
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE organization_id = %s '  # noqa: S608
                    f"AND {value} ILIKE %s",
                    [organization_id, f"%{text}%"],
                )
                if count := cursor.fetchone()[0]:
                    key = f"{table}.{column}"
                    found[key] = found.get(key, 0) + count
    return found


def row_counts(organization_id: int) -> dict[str, int]:
    return {
        model._meta.label: model.objects.for_organization(organization_id).count()
        for model in tenant_tables()
    }


@pytest.fixture
def traces(org, link, journey):  # noqa: F811
    return leave_traces(org, link, journey)

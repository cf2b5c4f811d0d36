"""Deleting an organisation: owners only, with its slug and their password; every tenant row
of that organisation goes, another organisation's rows stay, and the deletion is logged."""

import logging

import pytest
from django.urls import reverse

from apps.organizations.models import Organization
from apps.organizations.permissions import Principal
from apps.privacy.services import organization_delete
from tests.factories import JourneyFactory, MembershipFactory

from .conftest import leave_traces, row_counts

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def two_orgs(org, other_org, owner, link, journey):
    """Both organisations hold data; ours holds the full set of traces."""
    owner.set_password(PASSWORD)
    owner.save()
    leave_traces(org, link, journey)
    MembershipFactory(organization=other_org, role="owner")
    theirs = MembershipFactory(organization=other_org, role="admin").user
    JourneyFactory(organization=other_org, owner=theirs)
    return org, other_org


def test_the_owner_deletes_everything_of_one_organisation(two_orgs, owner, client, caplog):
    org, other_org = two_orgs
    ours_before, theirs_before = row_counts(org.pk), row_counts(other_org.pk)
    # Every kind of row that matters is there to be deleted.
    assert all(ours_before[label] for label in (
        "responses.Response", "responses.Answer", "alerts.Alert", "audit.AuditEntry",
        "distribution.Contact", "distribution.SurveyInvitation", "reports.ReportSchedule",
        "journeys.Journey", "surveys.Questionnaire", "scoring.ItemDayCount",
        "webhooks.WebhookDelivery", "organizations.Membership",
    ))  # fmt: skip
    assert theirs_before["journeys.Journey"] == 1
    client.force_login(owner)

    with caplog.at_level(logging.WARNING, logger="apps.privacy.services"):
        answer = client.post(
            reverse("privacy:delete", args=[org.slug]),
            {"confirmation": org.slug, "password": PASSWORD},
        )

    assert answer.status_code == 302
    assert not Organization.objects.filter(pk=org.pk).exists()
    assert set(row_counts(org.pk).values()) == {0}
    assert row_counts(other_org.pk) == theirs_before
    (record,) = [r for r in caplog.records if "organization.deleted" in r.getMessage()]
    assert record.organization_id == org.pk and record.actor_id == owner.pk
    assert record.counts["responses.response"] == ours_before["responses.Response"]


@pytest.mark.parametrize(
    ("confirmation", "password", "field"),
    [("wrong-slug", PASSWORD, "confirmation"), (None, "not my password", "password")],
)
def test_a_wrong_slug_or_password_deletes_nothing(
    two_orgs, owner, client, confirmation, password, field
):
    org, _ = two_orgs
    before = row_counts(org.pk)
    client.force_login(owner)
    answer = client.post(
        reverse("privacy:delete", args=[org.slug]),
        {"confirmation": confirmation or org.slug, "password": password},
    )
    assert answer.status_code == 400
    assert answer.context["form"].errors[field]
    assert row_counts(org.pk) == before


def test_only_owners_may(org, admin, client):
    client.force_login(admin)
    assert client.get(reverse("privacy:delete", args=[org.slug])).status_code == 403
    with pytest.raises(Exception, match="permission"):
        organization_delete(
            organization=org,
            actor=Principal(organization=org, role="admin", user=admin),
            confirmation=org.slug,
            password="",
        )
    assert Organization.objects.filter(pk=org.pk).exists()


def test_the_owner_sees_the_danger_zone(org, owner, client):
    client.force_login(owner)
    page = client.get(reverse("privacy:delete", args=[org.slug]))
    assert page.status_code == 200 and org.slug.encode() in page.content


def test_a_stranger_gets_404(org, stranger_client):
    assert stranger_client.get(reverse("privacy:delete", args=[org.slug])).status_code == 404

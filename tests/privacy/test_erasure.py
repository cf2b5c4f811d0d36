"""Subject access and erasure: everything linked to an address is found and exported as JSON;
erasing it leaves the address nowhere in the organisation's tables but the suppression list."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.alerts.consent import CONSENT_KEY
from apps.audit.models import AuditEntry
from apps.distribution.models import Contact, Suppression, SurveyInvitation
from apps.privacy.services import email_hash
from apps.responses.models import Answer
from tests.factories import MembershipFactory

from .conftest import EMAIL, tables_mentioning

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_access_finds_everything_linked_to_the_address(org, admin, traces):
    url = reverse("api:privacy-subject-access", kwargs={"org_slug": org.slug})
    found = _api(admin).post(url, {"email": EMAIL.upper()}, format="json").json()
    assert [c["name"] for c in found["contacts"]] == ["Maija"]
    assert [i["status"] for i in found["survey_invitations"]] == ["sent"]
    assert {a["item"] for a in found["contact_answers"]} == {
        CONSENT_KEY,
        "contact:name",
        "contact:email",
        "contact:phone",
    }
    assert [a["id"] for a in found["alerts"]] == [traces.alert.pk]
    assert len(found["report_schedule_recipients"]) == 1
    assert len(found["report_deliveries"]) == 1
    assert found["suppression"]["reason"] == "unsubscribed"
    assert found["member_invitations"][0]["status"] == "expired"
    assert found["membership"] is None
    entry = AuditEntry.objects.for_organization(org).get(action="privacy.access_exported")
    assert entry.data == {"subject_hash": email_hash(EMAIL)}


def test_the_web_page_downloads_the_json(org, admin, traces, client):
    client.force_login(admin)
    url = reverse("privacy:subject", args=[org.slug])
    page = client.post(url, {"email": EMAIL})
    assert page.status_code == 200 and b"Maija" not in page.content  # counts, not the data
    download = client.post(url, {"email": EMAIL, "download": "1"})
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert EMAIL not in download["Content-Disposition"]
    assert json.loads(download.content)["contacts"][0]["email"] == EMAIL


def test_erasure_leaves_the_address_only_on_the_suppression_list(
    org, other_org, admin, traces, link, journey
):
    assert set(tables_mentioning(org.pk, EMAIL)) >= {
        "distribution_contact.email", "distribution_surveyinvitation.email",
        "responses_answer.text", "alerts_alert.resolution_note", "alerts_alertevent.data",
        "reports_schedulerecipient.email", "reports_deliveryrecipient.email",
        "organizations_invitation.email", "webhooks_webhookevent.body",
        "distribution_contactimport.content", "distribution_contactimport.rejected",
        "distribution_suppression.email", "audit_auditentry.data",
    }  # fmt: skip
    other = Contact.objects.create(
        organization=other_org, email=EMAIL,
        contact_list=Contact.objects.for_organization(org).get().contact_list.__class__.objects
        .create(organization=other_org, name="Theirs", audience="customer"),
    )  # fmt: skip

    url = reverse("api:privacy-erasure", kwargs={"org_slug": org.slug})
    answer = _api(admin).post(url, {"email": EMAIL, "confirm": True}, format="json")

    assert answer.status_code == 200, answer.content
    assert tables_mentioning(org.pk, EMAIL) == {"distribution_suppression.email": 1}
    assert Contact.objects.for_organization(org).count() == 0
    invitation = SurveyInvitation.objects.for_organization(org).get()
    assert invitation.status == "sent"  # the campaign's figures stay
    assert invitation.email == f"erased-{email_hash(EMAIL)}@erased.invalid"
    answers = dict(
        Answer.objects.for_organization(org)
        .filter(response=traces.response, item__key__startswith="contact:")
        .values_list("item__key", "text")
    )
    assert answers.pop("contact:consent") == ""  # a choice, kept as such
    assert set(answers.values()) == {""}
    assert Answer.objects.for_organization(org).get(
        response=traces.response, item__key="contact:consent"
    ).choices == ["yes"]
    assert Suppression.objects.for_organization(org).filter(email=EMAIL).exists()
    entry = AuditEntry.objects.for_organization(org).get(action="privacy.erased")
    assert entry.data["subject_hash"] == email_hash(EMAIL)
    assert EMAIL not in json.dumps(entry.data) + entry.target_label
    # Another organisation's data about the same person is not theirs to erase.
    assert Contact.objects.for_organization(other_org).get() == other


def test_erasure_needs_confirmation_and_changes_nothing_without_it(org, admin, traces):
    url = reverse("api:privacy-erasure", kwargs={"org_slug": org.slug})
    before = tables_mentioning(org.pk, EMAIL)
    answer = _api(admin).post(url, {"email": EMAIL, "confirm": False}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"confirm": ["Tick the box to confirm."]}
    assert tables_mentioning(org.pk, EMAIL) == before


def test_a_members_address_is_refused(org, admin):
    member = MembershipFactory(organization=org, role="viewer").user
    url = reverse("api:privacy-erasure", kwargs={"org_slug": org.slug})
    answer = _api(admin).post(url, {"email": member.email, "confirm": True}, format="json")
    assert answer.status_code == 400
    assert "email" in answer.json()["error"]["fields"]


def test_erasure_through_the_web_page(org, admin, traces, client):
    client.force_login(admin)
    url = reverse("privacy:erase", args=[org.slug])
    refused = client.post(url, {"email": EMAIL})
    assert refused.status_code == 400
    assert Contact.objects.for_organization(org).count() == 1
    done = client.post(url, {"email": EMAIL, "confirm": "on"})
    assert done.status_code == 302
    assert Contact.objects.for_organization(org).count() == 0


@pytest.mark.parametrize("name", ["privacy-subject-access", "privacy-erasure"])
def test_analysts_may_not_look_up_or_erase(org, analyst, name):
    url = reverse(f"api:{name}", kwargs={"org_slug": org.slug})
    answer = _api(analyst).post(url, {"email": EMAIL, "confirm": True}, format="json")
    assert answer.status_code == 403


def test_a_stranger_gets_404(org, stranger):
    url = reverse("api:privacy-erasure", kwargs={"org_slug": org.slug})
    answer = _api(stranger).post(url, {"email": EMAIL, "confirm": True}, format="json")
    assert answer.status_code == 404


def test_finding_a_persons_data_takes_ten_queries(org, traces, django_assert_num_queries):
    from apps.privacy.selectors import personal_data_find

    with django_assert_num_queries(10):
        found = personal_data_find(organization=org, email=EMAIL)
    assert found["contacts"] and found["alerts"]

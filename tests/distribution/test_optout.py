"""Opting out: the page (a GET only asks), the form and the one-click POST, the suppression list
(admins only; a person's own opt-out is never lifted by others), and its audit entries."""

import pytest

from apps.audit.models import AuditEntry
from apps.distribution import campaign_services
from apps.distribution.models import InvitationStatus, Suppression, SurveyInvitation
from tests.distribution.mail_fixtures import MESSAGES, campaign, contact_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(org, analyst, questionnaire, django_capture_on_commit_callbacks, settings):
    settings.DISTRIBUTION_SEND_RATE = 0
    contacts = contact_list(org, analyst, people=[("liisa@example.com", "Liisa", "fi",
                                                   {"region": "N"})])  # fmt: skip
    created = campaign(org, analyst, questionnaire, contacts, **MESSAGES)
    from tests.distribution.mail_fixtures import send

    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, created)
    return SurveyInvitation.objects.for_organization(org).get()


def test_opening_the_page_asks_and_changes_nothing(client, invitation, org):
    page = client.get(f"/unsubscribe/{invitation.token}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Acme Oy" in html and "liisa@example.com" in html and '<html lang="fi">' in html
    assert "no-store" in page["Cache-Control"]
    assert client.head(f"/unsubscribe/{invitation.token}/").status_code == 200
    assert not Suppression.objects.for_organization(org).exists()


def test_the_button_opts_out_for_good(client, invitation, org):
    done = client.post(f"/unsubscribe/{invitation.token}/", {"confirm": "1"})
    assert done.status_code == 200 and "liisa@example.com" in done.content.decode()
    entry = Suppression.objects.for_organization(org).get()
    assert (entry.email, entry.reason, entry.campaign_id) == (
        "liisa@example.com", "unsubscribed", invitation.campaign_id)  # fmt: skip
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.OPTED_OUT
    audit = AuditEntry.objects.for_organization(org).get(action="suppression.added")
    assert audit.data["reason"] == "unsubscribed" and audit.actor_label == "system"
    # Twice is the same as once.
    assert client.post(f"/unsubscribe/{invitation.token}/").status_code == 200
    assert Suppression.objects.for_organization(org).count() == 1


def test_one_click_from_a_mail_client(client, invitation, org):
    response = client.post(
        f"/unsubscribe/{invitation.token}/", "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert Suppression.objects.for_organization(org).filter(email="liisa@example.com").exists()


def test_an_unknown_token_is_not_found(client, invitation):
    assert client.get("/unsubscribe/not-a-real-token-000000000000000/").status_code == 404
    assert client.post("/unsubscribe/not-a-real-token-000000000000000/").status_code == 404
    assert client.put(f"/unsubscribe/{invitation.token}/").status_code == 405


def test_admins_manage_the_list_but_never_lift_a_persons_own_opt_out(
    admin_client_, admin_api, analyst_api, client, invitation, org
):
    client.post(f"/unsubscribe/{invitation.token}/")
    own = Suppression.objects.for_organization(org).get()
    added = admin_client_.post("/o/acme/contacts/suppressions/", {"email": "Old@Example.com"})
    assert added.status_code == 302
    manual = Suppression.objects.for_organization(org).get(email="old@example.com")
    page = admin_client_.get("/o/acme/contacts/suppressions/").content.decode()
    assert "liisa@example.com" in page and "old@example.com" in page
    refused = admin_api.delete(f"/api/v1/o/acme/suppressions/{own.pk}/")
    assert refused.status_code == 409
    assert "opted out themselves" in refused.json()["error"]["fields"]["suppression"][0]
    assert admin_api.delete(f"/api/v1/o/acme/suppressions/{manual.pk}/").status_code == 204
    assert list(Suppression.objects.for_organization(org).values_list("email", flat=True)) == [
        "liisa@example.com"]  # fmt: skip
    assert analyst_api.get("/api/v1/o/acme/suppressions/").status_code == 403
    listed = admin_api.get("/api/v1/o/acme/suppressions/").json()["results"]
    assert [row["reason"] for row in listed] == ["unsubscribed"]
    actions = set(AuditEntry.objects.for_organization(org).values_list("action", flat=True))
    assert {"suppression.added", "suppression.removed"} <= actions


def test_an_answer_still_counts_after_opting_out(client, invitation, org):
    client.post(f"/unsubscribe/{invitation.token}/")
    invitation.refresh_from_db()
    entry = campaign_services.selectors.invitation_by_token(invitation.token)
    assert entry is not None and invitation.status == InvitationStatus.OPTED_OUT
    page = client.get(f"/s/{invitation.token}/")
    assert page.status_code == 200  # opting out of email is not refusing to answer

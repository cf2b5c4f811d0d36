"""The whole web journey: a founder signs up, invites a colleague, the colleague joins through
the email's link, and sees nothing of another organisation."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from apps.accounts.forms import PENDING_INVITATION_SESSION_KEY
from apps.audit.models import AuditEntry
from apps.organizations.models import Invitation, Membership, Organization

pytestmark = pytest.mark.django_db

PASSWORD = "Str0ng-passphrase!"


def _path(pattern: str, body: str) -> str:
    match = re.search(rf"https?://[^/\s]+({pattern})", body)
    assert match, body
    return match.group(1)


def test_founder_invites_a_colleague_who_signs_up_through_the_link(
    other_org, stranger, django_capture_on_commit_callbacks
):
    founder = Client()
    response = founder.post(
        "/accounts/signup/",
        {"organization_name": "Northwind Oy", "email": "founder@northwind.example",
         "password1": PASSWORD, "password2": PASSWORD},
    )  # fmt: skip
    assert response.status_code == 302
    confirm = _path(r"/accounts/confirm-email/\S+/", mail.outbox[-1].body)
    landing = founder.get(founder.post(confirm)["Location"], follow=True)
    assert landing.request["PATH_INFO"] == "/o/northwind-oy/"
    organization = Organization.objects.get(slug="northwind-oy")

    # The owner invites a colleague from the members page.
    members_page = founder.get("/o/northwind-oy/members/")
    assert members_page.status_code == 200 and "Invite a colleague" in members_page.text
    with django_capture_on_commit_callbacks(execute=True):
        invited = founder.post(
            "/o/northwind-oy/members/invite/",
            {"invite-email": "Colleague@Northwind.example", "invite-role": "analyst"},
        )
    assert invited.status_code == 302
    invitation_mail = mail.outbox[-1]
    assert invitation_mail.to == ["colleague@northwind.example"]
    assert "Northwind Oy" in invitation_mail.subject
    link = _path(r"/invitations/[A-Za-z0-9_-]+/", invitation_mail.body)

    # The colleague opens the link, is offered to create an account, and signs up through it.
    colleague = Client()
    page = colleague.get(link)
    assert page.status_code == 200 and "Create account" in page.text
    signup_page = colleague.get(f"/accounts/signup/?next={link}")
    assert signup_page.status_code == 200
    assert 'type="hidden" name="organization_name"' in signup_page.text
    mails_before = len(mail.outbox)
    response = colleague.post(
        f"/accounts/signup/?next={link}",
        {"email": "colleague@northwind.example", "password1": PASSWORD, "password2": PASSWORD},
    )
    # The invitation proved the address: no verification email, signed in, and in.
    assert response.status_code == 302
    assert len(mail.outbox) == mails_before
    landing = colleague.get(response["Location"], follow=True)
    assert landing.request["PATH_INFO"] == "/o/northwind-oy/"
    assert PENDING_INVITATION_SESSION_KEY not in colleague.session

    membership = Membership.objects.for_organization(organization).get(
        user__email="colleague@northwind.example"
    )
    assert membership.role == "analyst"
    assert EmailAddress.objects.get(email="colleague@northwind.example").verified
    assert Invitation.objects.for_organization(organization).get().status == "accepted"
    assert Organization.objects.count() == 2  # northwind and the rival: no stray organisation
    assert (
        AuditEntry.objects.for_organization(organization)
        .filter(action="invitation.accepted", actor=membership.user)
        .exists()
    )

    # The colleague's wall: another organisation's pages and API objects are 404.
    assert colleague.get("/o/rival/").status_code == 404
    assert colleague.get("/o/rival/members/").status_code == 404
    assert colleague.get("/api/v1/o/rival/members/").status_code == 404
    rival_member = Membership.objects.for_organization(other_org).get(user=stranger)
    assert colleague.get(f"/api/v1/o/rival/members/{rival_member.pk}/").status_code == 404
    assert colleague.get(f"/api/v1/o/northwind-oy/members/{rival_member.pk}/").status_code == 404
    assert colleague.get("/api/v1/o/northwind-oy/members/").json()["count"] == 2

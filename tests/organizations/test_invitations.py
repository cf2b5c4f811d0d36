"""Invitations by email: creating, resending, revoking and accepting them."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import formats, timezone, translation

from apps.accounts.forms import PENDING_INVITATION_SESSION_KEY
from apps.audit.models import AuditEntry
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.organizations import services
from apps.organizations.models import Invitation, Membership
from apps.organizations.permissions import Principal
from apps.organizations.selectors import invitation_token_hash
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^/\s]+(/invitations/([A-Za-z0-9_-]+)/)")


def _principal(org, user):
    return Principal.for_membership(Membership.objects.for_organization(org).get(user=user))


def _invite(org, actor, email="new.colleague@example.com", role="analyst", capture=None):
    if capture is None:
        return services.invitation_create(
            organization=org, actor=_principal(org, actor), email=email, role=role
        )
    with capture(execute=True):
        return services.invitation_create(
            organization=org, actor=_principal(org, actor), email=email, role=role
        )


def _link(message) -> tuple[str, str]:
    match = LINK.search(message.body)
    assert match, message.body
    return match.group(1), match.group(2)


# --- Services -----------------------------------------------------------------------------------


def test_invitation_stores_only_the_hash_and_mails_the_link_on_commit(
    org, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        invitation = services.invitation_create(
            organization=org, actor=_principal(org, admin), email=" New@Example.COM ", role="viewer"
        )
        assert mail.outbox == []  # nothing is sent before the data is committed
    assert len(callbacks) == 1
    callbacks[0]()
    [message] = mail.outbox
    path, token = _link(message)
    assert len(token) >= 43  # token_urlsafe(32): 256 random bits
    assert invitation.token_hash == invitation_token_hash(token)
    assert token not in str(Invitation.objects.for_organization(org).values().get())
    assert invitation.email == "new@example.com"
    assert invitation.expires_at - timezone.now() > timedelta(days=6, hours=23)
    assert (invitation.send_count, invitation.role) == (1, "viewer")
    assert message.to == ["new@example.com"]
    assert "Acme Oy" in message.subject and admin.full_name in message.subject
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and path in html
    [entry] = AuditEntry.objects.for_organization(org).filter(action="invitation.created")
    assert entry.data == {"email": "new@example.com", "role": "viewer"}


def test_invitation_email_is_in_the_organisations_language(
    org, admin, django_capture_on_commit_callbacks
):
    org.default_language = "fi"
    org.save()
    invitation = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert "Acme Oy" in message.subject
    html, _ = message.alternatives[0]
    assert '<html lang="fi">' in html
    # Rendered under Finnish: the expiry date reads the Finnish way (Django's own catalogue).
    expires = timezone.localtime(invitation.expires_at)
    with translation.override("fi"):
        finnish_date = formats.date_format(expires, "DATE_FORMAT")
    with translation.override("en"):
        english_date = formats.date_format(expires, "DATE_FORMAT")
    assert finnish_date != english_date
    assert finnish_date in message.body and english_date not in message.body


@pytest.mark.parametrize(
    ("email", "role", "error", "field"),
    [
        ("not-an-address", "viewer", ValidationFailed, "email"),
        ("a@example.com", "emperor", ValidationFailed, "role"),
    ],
)
def test_bad_input_names_the_field(org, admin, email, role, error, field):
    with pytest.raises(error) as excinfo:
        _invite(org, admin, email=email, role=role)
    assert field in excinfo.value.fields
    assert not Invitation.objects.for_organization(org).exists()


def test_existing_member_and_second_open_invitation_are_conflicts(org, admin, viewer):
    with pytest.raises(Conflict, match="already a member") as excinfo:
        _invite(org, admin, email=viewer.email.upper())
    assert "email" in excinfo.value.fields
    _invite(org, admin, email="twice@example.com")
    with pytest.raises(Conflict, match="open invitation"):
        _invite(org, admin, email="Twice@example.com")
    assert Invitation.objects.for_organization(org).count() == 1


def test_only_owners_invite_owners(org, owner, admin):
    with pytest.raises(PermissionDenied, match="Only owners"):
        _invite(org, admin, role="owner")
    assert _invite(org, owner, role="owner").role == "owner"


def test_resend_makes_a_new_link_and_the_old_one_stops_working(
    client, org, admin, django_capture_on_commit_callbacks
):
    invitation = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    old_path, _ = _link(mail.outbox[0])
    invitation.expires_at = timezone.now() - timedelta(days=1)  # expired ones can be resent
    invitation.last_sent_at = timezone.now() - timedelta(days=6)
    invitation.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_resend(
            organization=org, actor=_principal(org, admin), invitation_id=invitation.pk
        )
    invitation.refresh_from_db()
    assert invitation.send_count == 2 and invitation.last_sent_at is not None
    assert invitation.status == "pending"
    new_path, _ = _link(mail.outbox[1])
    assert new_path != old_path
    assert client.get(old_path).status_code == 404
    assert client.get(new_path).status_code == 200
    assert AuditEntry.objects.for_organization(org).filter(action="invitation.resent").exists()


def test_revoked_invitation_cannot_be_resent_or_revoked_again(org, admin):
    invitation = _invite(org, admin)
    actor = _principal(org, admin)
    services.invitation_revoke(organization=org, actor=actor, invitation_id=invitation.pk)
    with pytest.raises(Conflict, match="revoked"):
        services.invitation_resend(organization=org, actor=actor, invitation_id=invitation.pk)
    with pytest.raises(Conflict, match="revoked"):
        services.invitation_revoke(organization=org, actor=actor, invitation_id=invitation.pk)
    assert AuditEntry.objects.for_organization(org).filter(action="invitation.revoked").count() == 1
    # A new invitation for the same address is possible once the old one is closed.
    assert _invite(org, admin).pk != invitation.pk


# --- Accepting ----------------------------------------------------------------------------------


def test_unknown_token_is_404(client):
    assert client.get("/invitations/no-such-token/").status_code == 404


@pytest.mark.parametrize(
    ("close", "text"),
    [
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "has expired"),
        ({"revoked_at": timezone.now()}, "has been revoked"),
        ({"accepted_at": timezone.now()}, "already been used"),
    ],
)
def test_closed_invitations_say_why_with_410(
    client, org, admin, django_capture_on_commit_callbacks, close, text
):
    invitation = _invite(org, admin, capture=django_capture_on_commit_callbacks)
    path, _ = _link(mail.outbox[0])
    Invitation.objects.for_organization(org).filter(pk=invitation.pk).update(**close)
    response = client.get(path)
    assert response.status_code == 410
    assert text in response.text
    client.force_login(UserFactory())
    assert client.post(path).status_code == 410
    assert Membership.objects.for_organization(org).count() == 1  # only the admin


def test_invitation_url_does_not_reveal_the_organisation(
    org, admin, django_capture_on_commit_callbacks
):
    _invite(org, admin, capture=django_capture_on_commit_callbacks)
    path, _ = _link(mail.outbox[0])
    assert path.startswith("/invitations/") and "acme" not in path


def test_signed_in_user_accepts_and_lands_in_the_organisation(
    client, org, admin, django_capture_on_commit_callbacks
):
    _invite(org, admin, email="colleague@example.com", capture=django_capture_on_commit_callbacks)
    path, _ = _link(mail.outbox[0])
    colleague = UserFactory(email="Colleague@example.com")
    client.force_login(colleague)
    page = client.get(path)
    assert page.status_code == 200
    assert "Acme Oy" in page.text and "Analyst" in page.text and "Accept invitation" in page.text
    response = client.post(path)
    assert response.status_code == 302 and response["Location"] == "/o/acme/"
    membership = Membership.objects.for_organization(org).get(user=colleague)
    assert membership.role == "analyst"
    invitation = Invitation.objects.for_organization(org).get()
    assert invitation.accepted_by == colleague and invitation.status == "accepted"
    entry = AuditEntry.objects.for_organization(org).get(action="invitation.accepted")
    assert entry.actor == colleague and entry.data["already_member"] is False
    assert client.post(path).status_code == 302  # already accepted by them: to the organisation


def test_existing_member_is_told_so_and_keeps_their_role(
    client, org, admin, viewer, django_capture_on_commit_callbacks
):
    invitation = Invitation.objects.create(
        organization=org,
        email="someone.else@example.com",
        role="admin",
        token_hash=invitation_token_hash("T" * 43),
        expires_at=timezone.now() + timedelta(days=7),
    )
    client.force_login(viewer)
    page = client.get(f"/invitations/{'T' * 43}/")
    assert "already a member" in page.text
    response = client.post(f"/invitations/{'T' * 43}/", follow=True)
    assert "already a member" in response.text
    assert Membership.objects.for_organization(org).get(user=viewer).role == "viewer"
    invitation.refresh_from_db()
    assert invitation.status == "accepted"


def test_anonymous_visitor_is_offered_sign_in_and_signup(
    client, org, admin, django_capture_on_commit_callbacks
):
    _invite(org, admin, capture=django_capture_on_commit_callbacks)
    path, token = _link(mail.outbox[0])
    page = client.get(path)
    assert page.status_code == 200
    assert f"/accounts/login/?next={path}" in page.text
    assert f"/accounts/signup/?next={path}" in page.text
    assert client.session[PENDING_INVITATION_SESSION_KEY] == token
    # The signup page then asks for no organisation name.
    signup = client.get(f"/accounts/signup/?next={path}")
    assert signup.context["form"].fields["organization_name"].required is False


def test_signing_in_through_the_link_then_accepting(
    client, org, admin, django_capture_on_commit_callbacks
):
    _invite(org, admin, email="known@example.com", capture=django_capture_on_commit_callbacks)
    path, _ = _link(mail.outbox[0])
    known = UserFactory(email="known@example.com")
    client.get(path)
    response = client.post(
        f"/accounts/login/?next={path}",
        {"login": "known@example.com", "password": "correct-horse-battery-staple"},
    )
    assert response.status_code == 302 and response["Location"] == path
    assert client.post(path)["Location"] == "/o/acme/"
    assert Membership.objects.for_organization(org).get(user=known).role == "analyst"


def test_signup_with_another_address_verifies_it_first(
    client, org, admin, django_capture_on_commit_callbacks
):
    _invite(org, admin, email="invited@example.com", capture=django_capture_on_commit_callbacks)
    path, _ = _link(mail.outbox[0])
    client.get(path)
    response = client.post(
        f"/accounts/signup/?next={path}",
        {"email": "private@example.net", "password1": "Str0ng-passphrase!",
         "password2": "Str0ng-passphrase!"},
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert (
        not Membership.objects.for_organization(org)
        .filter(user__email="private@example.net")
        .exists()
    )
    # The verification link signs them in and brings them back to the invitation.
    confirm = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)
    assert confirm
    back = client.post(confirm.group(1))
    assert back["Location"] == path
    assert client.post(path)["Location"] == "/o/acme/"
    assert (
        Membership.objects.for_organization(org).get(user__email="private@example.net").role
        == "analyst"
    )


# --- Web management -----------------------------------------------------------------------------


def test_web_invite_sends_the_email(admin_client_, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            "/o/acme/members/invite/", {"invite-email": "x@example.com", "invite-role": "viewer"}
        )
    assert response.status_code == 302
    assert Invitation.objects.for_organization(org).get().email == "x@example.com"
    assert len(mail.outbox) == 1
    page = admin_client_.get("/o/acme/members/")
    assert "x@example.com" in page.text


def test_web_invite_bad_email_is_400_naming_the_field(admin_client_, org):
    response = admin_client_.post(
        "/o/acme/members/invite/", {"invite-email": "nope", "invite-role": "viewer"}
    )
    assert response.status_code == 400
    assert "email" in response.context["invite_form"].errors
    assert not Invitation.objects.for_organization(org).exists()


def test_web_admin_cannot_invite_an_owner(admin_client_, org):
    response = admin_client_.post(
        "/o/acme/members/invite/", {"invite-email": "boss@example.com", "invite-role": "owner"}
    )
    assert response.status_code == 400  # "owner" is not among the admin's choices
    assert "role" in response.context["invite_form"].errors
    assert not Invitation.objects.for_organization(org).exists()


def test_web_duplicate_invitation_is_a_conflict(admin_client_, org, admin):
    _invite(org, admin, email="dup@example.com")
    response = admin_client_.post(
        "/o/acme/members/invite/", {"invite-email": "dup@example.com", "invite-role": "viewer"}
    )
    assert response.status_code == 409
    assert "open invitation" in str(response.context["invite_form"].errors["email"])


def test_web_resend_and_revoke(admin_client_, org, admin, django_capture_on_commit_callbacks):
    invitation = _invite(org, admin)
    _sent_long_ago(invitation)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(f"/o/acme/invitations/{invitation.pk}/resend/")
    assert response.status_code == 302 and len(mail.outbox) == 1
    response = admin_client_.post(f"/o/acme/invitations/{invitation.pk}/revoke/")
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == "revoked" and invitation.send_count == 2


def test_web_invitation_management_roles_and_strangers(
    viewer_client, stranger_client, org, admin, other_org, stranger
):
    invitation = _invite(org, admin)
    assert (
        viewer_client.post(
            "/o/acme/members/invite/", {"invite-email": "v@example.com", "invite-role": "viewer"}
        ).status_code
        == 403
    )
    assert viewer_client.post(f"/o/acme/invitations/{invitation.pk}/revoke/").status_code == 403
    assert stranger_client.post(f"/o/acme/invitations/{invitation.pk}/revoke/").status_code == 404
    # The stranger's own organisation does not reach acme's invitation either.
    assert stranger_client.post(f"/o/rival/invitations/{invitation.pk}/revoke/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == "pending"


# --- API ----------------------------------------------------------------------------------------


def test_api_create_list_resend_revoke(admin_api, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_api.post(
            "/api/v1/o/acme/invitations/", {"email": "api@example.com", "role": "analyst"},
            format="json",
        )  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending" and "token" not in body and "token_hash" not in body
    assert len(mail.outbox) == 1
    listing = admin_api.get("/api/v1/o/acme/invitations/").json()
    assert listing["count"] == 1 and listing["results"][0]["email"] == "api@example.com"
    pk = body["id"]
    assert admin_api.get(f"/api/v1/o/acme/invitations/{pk}/").json()["role"] == "analyst"
    _sent_long_ago(Invitation.objects.for_organization(org).get(pk=pk))
    with django_capture_on_commit_callbacks(execute=True):
        resent = admin_api.post(f"/api/v1/o/acme/invitations/{pk}/resend/")
    assert resent.status_code == 200 and resent.json()["send_count"] == 2
    assert len(mail.outbox) == 2
    revoked = admin_api.delete(f"/api/v1/o/acme/invitations/{pk}/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


@pytest.mark.parametrize(
    ("data", "field", "status"),
    [
        ({"email": "bad", "role": "viewer"}, "email", 400),
        ({"email": "a@example.com", "role": "emperor"}, "role", 400),
        ({"role": "viewer"}, "email", 400),
    ],
)
def test_api_bad_input_names_the_field(admin_api, org, data, field, status):
    response = admin_api.post("/api/v1/o/acme/invitations/", data, format="json")
    assert response.status_code == status
    assert field in response.json()["error"]["fields"]
    assert not Invitation.objects.for_organization(org).exists()


def test_api_conflicts(admin_api, org, viewer):
    response = admin_api.post("/api/v1/o/acme/invitations/", {"email": viewer.email}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["fields"]["email"]
    admin_api.post("/api/v1/o/acme/invitations/", {"email": "z@example.com"}, format="json")
    again = admin_api.post("/api/v1/o/acme/invitations/", {"email": "z@example.com"}, format="json")
    assert again.status_code == 409 and "open invitation" in again.json()["error"]["message"]


def test_api_roles_and_strangers(viewer_api, stranger_api, admin_api, org, admin, stranger):
    invitation = _invite(org, admin)
    assert viewer_api.get("/api/v1/o/acme/invitations/").status_code == 403
    assert (
        viewer_api.post(
            "/api/v1/o/acme/invitations/", {"email": "v@example.com"}, format="json"
        ).status_code
        == 403
    )
    assert stranger_api.get("/api/v1/o/acme/invitations/").status_code == 404
    assert stranger_api.delete(f"/api/v1/o/acme/invitations/{invitation.pk}/").status_code == 404
    # Through their own organisation, acme's invitation id does not exist.
    assert stranger_api.get(f"/api/v1/o/rival/invitations/{invitation.pk}/").status_code == 404
    assert stranger_api.delete(f"/api/v1/o/rival/invitations/{invitation.pk}/").status_code == 404
    assert (
        stranger_api.post(f"/api/v1/o/rival/invitations/{invitation.pk}/resend/").status_code == 404
    )
    response = admin_api.post(
        "/api/v1/o/acme/invitations/", {"email": "o@example.com", "role": "owner"}, format="json"
    )
    assert response.status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def _sent_long_ago(invitation):
    """Let the resend cooldown pass."""
    Invitation.objects.for_organization(invitation.organization_id).filter(pk=invitation.pk).update(
        last_sent_at=timezone.now() - services.INVITATION_RESEND_COOLDOWN - timedelta(minutes=1)
    )


def test_invitations_cannot_be_used_as_a_mail_relay(org, admin, monkeypatch):
    actor = _principal(org, admin)
    invitation = _invite(org, admin)
    with pytest.raises(Conflict, match="less than 10 minutes ago") as caught:
        services.invitation_resend(organization=org, actor=actor, invitation_id=invitation.pk)
    assert "invitation" in caught.value.fields
    for _ in range(services.INVITATION_MAX_SENDS - 1):
        _sent_long_ago(invitation)
        services.invitation_resend(organization=org, actor=actor, invitation_id=invitation.pk)
    _sent_long_ago(invitation)
    with pytest.raises(Conflict, match="already sent 5 times"):
        services.invitation_resend(organization=org, actor=actor, invitation_id=invitation.pk)
    invitation.refresh_from_db()
    assert invitation.send_count == services.INVITATION_MAX_SENDS

    monkeypatch.setattr(services, "INVITATIONS_PER_DAY", 2)
    _invite(org, admin, email="second@example.com")
    with pytest.raises(Conflict, match="2 invitations in the last day") as caught:
        _invite(org, admin, email="third@example.com")
    assert "email" in caught.value.fields
    assert not Invitation.objects.for_organization(org).filter(email="third@example.com").exists()


def test_invitation_email_keeps_names_readable_and_on_one_line(
    org, admin, django_capture_on_commit_callbacks
):
    org.name = "O'Brien & Co\nR&D <Team>"
    org.save()
    _invite(org, admin, capture=django_capture_on_commit_callbacks)
    message = mail.outbox[0]
    assert "O'Brien & Co R&D <Team>" in message.subject
    assert "&amp;" not in message.subject and "&#x27;" not in message.subject
    assert "\\n" not in message.subject
    assert "O'Brien & Co" in message.body

"""Self-serve signup: the new person's organisation is created and they are its owner."""

import re

import pytest
from django.core import mail

from apps.organizations.models import Membership, Organization

pytestmark = pytest.mark.django_db


def _signup(client, email="founder@newco.example", org_name="NewCo Oy"):
    return client.post(
        "/accounts/signup/",
        {"organization_name": org_name, "email": email,
         "password1": "Str0ng-passphrase!", "password2": "Str0ng-passphrase!"},
    )  # fmt: skip


def test_signup_creates_the_organisation_and_verifies_the_email(client):
    response = _signup(client)
    assert response.status_code == 302
    organization = Organization.objects.get(name="NewCo Oy")
    assert organization.slug == "newco-oy"
    membership = Membership.objects.for_organization(organization).get()
    assert membership.role == "owner" and membership.user.email == "founder@newco.example"

    # Verification is mandatory: the link in the email signs the person in.
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/confirm-email/[^\s]+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page = client.get(link.group(1))
    assert page.status_code == 200
    confirmed = client.post(link.group(1))
    assert confirmed.status_code == 302
    landing = client.get(confirmed["Location"], follow=True)
    assert landing.request["PATH_INFO"] == "/o/newco-oy/"


def test_signup_slug_is_unique_and_reserved_words_avoided(client, org):
    _signup(client, email="a@acme2.example", org_name="Acme")
    assert Organization.objects.filter(slug="acme-2").exists()
    client.logout()
    _signup(client, email="b@admin.example", org_name="Admin")
    assert Organization.objects.filter(slug="admin-org").exists()


def test_signup_without_organisation_name_names_the_field(client):
    response = _signup(client, org_name="")
    assert response.status_code == 200
    assert "organization_name" in response.context["form"].errors
    assert not Organization.objects.exists()

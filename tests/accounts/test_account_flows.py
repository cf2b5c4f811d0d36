"""Account flows allauth provides in our layout: password reset and email change."""

import re

import pytest
from django.core import mail

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_password_reset_by_email_link(client, user):
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    link = re.search(r"http://testserver(/accounts/password/reset/key/[^\s]+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    new_password = "A-fresh-passphrase-2026"
    done = client.post(
        form_page.request["PATH_INFO"], {"password1": new_password, "password2": new_password}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)
    assert not user.check_password(TEST_PASSWORD)


def test_password_reset_for_unknown_address_reveals_nothing(client, user):
    response = client.post("/accounts/password/reset/", {"email": "nobody@nowhere.example"})
    assert response.status_code == 302  # same answer as for a known address
    assert all("reset" not in m.subject.lower() or m.to != [user.email] for m in mail.outbox)


def test_email_change_needs_verification_of_the_new_address(client, user):
    client.force_login(user)
    page = client.get("/accounts/email/")
    assert page.status_code == 200 and 'class="site-header' in page.text
    response = client.post("/accounts/email/", {"action_add": "", "email": "new@example.com"})
    assert response.status_code == 302
    assert any(m.to == ["new@example.com"] for m in mail.outbox)
    address = user.emailaddress_set.get(email="new@example.com")
    assert address.verified is False
    user.refresh_from_db()
    assert user.email != "new@example.com"  # not the login until verified


def test_login_is_rate_limited_after_repeated_failures(client, user):
    def attempt(password):
        response = client.post("/accounts/login/", {"login": user.email, "password": password})
        return " ".join(response.context["form"].non_field_errors()) if response.context else ""

    first = [attempt("wrong") for _ in range(5)]
    assert all("not correct" in message for message in first)
    assert "Too many failed login attempts" in attempt("wrong")
    # Even the right password is refused while the limit holds.
    assert "Too many failed login attempts" in attempt(TEST_PASSWORD)

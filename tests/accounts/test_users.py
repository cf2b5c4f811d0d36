"""The email-login user and the demo accounts."""

import pytest

from apps.accounts.models import User
from apps.accounts.services import user_create
from apps.core.demo import DEMO_LOGINS, demo_load

pytestmark = pytest.mark.django_db


def test_emails_are_normalised_and_unique():
    user = User.objects.create_user(email="Ana@Example.COM", password="pw-12345678")
    assert user.email == "ana@example.com"
    assert user.check_password("pw-12345678")
    with pytest.raises(ValueError, match="email"):
        User.objects.create_user(email="", password="x")


def test_user_create_registers_the_address_with_allauth():
    user = user_create(email="new@example.com", password="pw-12345678", verified=True)
    address = user.emailaddress_set.get()
    assert address.primary and address.verified


def test_demo_data_loads_once_and_its_logins_work(client):
    from apps.organizations.models import Membership, Organization

    assert demo_load() is True
    assert demo_load() is False
    assert User.objects.count() == len(DEMO_LOGINS)
    organization = Organization.objects.get(slug="nordic-machinery")
    roles = dict(
        Membership.objects.for_organization(organization).values_list("user__email", "role")
    )
    assert roles == {
        "owner@demo.example": "owner",
        "admin@demo.example": "admin",
        "analyst@demo.example": "analyst",
        "viewer@demo.example": "viewer",
    }
    for login in DEMO_LOGINS:
        client.logout()
        response = client.post(
            "/accounts/login/", {"login": login.email, "password": login.password}
        )
        assert response.status_code == 302, login.email
        page = client.get(response["Location"], follow=True)
        assert page.request["PATH_INFO"] == "/o/nordic-machinery/"


def test_login_with_a_wrong_password_names_the_problem(client, user):
    response = client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    assert response.status_code == 200
    assert "not correct" in response.text


def test_signed_in_people_go_from_the_front_page_to_their_organisation(client, owner, org):
    client.force_login(owner)
    response = client.get("/", follow=True)
    assert response.request["PATH_INFO"] == "/o/acme/"

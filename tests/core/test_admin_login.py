"""The operator admin signs in through allauth, so two-factor and login throttling apply."""

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User

pytestmark = pytest.mark.django_db


def test_admin_login_goes_through_allauth(client):
    User.objects.create_superuser(email="ops@example.com", password="ops-password-1")
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    # Django's own password form is not reachable: posting to it signs nobody in.
    client.post("/admin/login/", {"username": "ops@example.com", "password": "ops-password-1"})
    assert client.get("/admin/").status_code == 302


def test_demo_data_refuses_to_load_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo")
    assert not User.objects.exists()

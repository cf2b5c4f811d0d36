"""Two-factor authentication: an authenticator app (TOTP) and recovery codes, through allauth."""

import base64
import hashlib
import hmac
import re
import struct
from types import SimpleNamespace
from unittest import mock

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal import auth as totp_auth

from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

# allauth checks codes against this clock; freezing it keeps a 30-second window from
# closing between computing a code and posting it.
NOW = 1_790_000_015.0


def totp(secret: str, at: float = NOW, period: int = 30) -> str:
    """RFC 6238, as an authenticator app computes it (SHA-1, 6 digits)."""
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(at) // period), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _another_code(secret: str) -> str:
    return f"{(int(totp(secret)) + 1) % 1_000_000:06d}"


@pytest.fixture(autouse=True)
def frozen_totp_clock():
    with mock.patch.object(totp_auth, "time", SimpleNamespace(time=lambda: NOW)):
        yield


def _sign_in(client, user):
    return client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})


def _confirm_password(client, next_url):
    """Changing sign-in methods asks for the password again, however recent the sign-in."""
    page = client.get(next_url)
    assert page.status_code == 302 and page["Location"].startswith("/accounts/reauthenticate/")
    confirmed = client.post(page["Location"], {"password": TEST_PASSWORD})
    assert confirmed.status_code == 302 and confirmed["Location"] == next_url


def _activate_totp(client, user) -> str:
    assert _sign_in(client, user).status_code == 302
    _confirm_password(client, "/accounts/2fa/totp/activate/")
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": _another_code(secret)})
    assert wrong.status_code == 200 and "code" in wrong.context["form"].errors
    activated = client.post("/accounts/2fa/totp/activate/", {"code": totp(secret)})
    assert activated.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    return secret


def test_totp_activation_then_sign_in_asks_for_the_code(client):
    user = UserFactory()
    secret = _activate_totp(client, user)
    # Activating also creates recovery codes, in case the phone is lost.
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists()
    client.post("/accounts/logout/")

    response = _sign_in(client, user)
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"
    code_page = client.get("/accounts/2fa/authenticate/")
    assert code_page.status_code == 200 and 'class="site-header' in code_page.text
    # The password alone does not sign in.
    assert client.get("/o/")["Location"].startswith("/accounts/login/")

    wrong = client.post("/accounts/2fa/authenticate/", {"code": _another_code(secret)})
    assert wrong.status_code == 200 and "code" in wrong.context["form"].errors
    assert "_auth_user_id" not in client.session

    right = client.post("/accounts/2fa/authenticate/", {"code": totp(secret)})
    assert right.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.get("/o/").status_code == 200
    assert client.get("/accounts/2fa/").status_code == 200


def test_a_used_code_cannot_be_replayed_but_a_recovery_code_works(client):
    user = UserFactory()
    secret = _activate_totp(client, user)
    client.post("/accounts/logout/")
    _sign_in(client, user)
    assert client.post("/accounts/2fa/authenticate/", {"code": totp(secret)}).status_code == 302
    client.post("/accounts/logout/")

    _sign_in(client, user)
    replay = client.post("/accounts/2fa/authenticate/", {"code": totp(secret)})
    assert replay.status_code == 200 and "_auth_user_id" not in client.session

    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    code = recovery.wrap().get_unused_codes()[0]
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_mfa_pages_use_the_app_layout_and_the_qr_code_is_an_inline_image(client):
    user = UserFactory()
    _sign_in(client, user)
    index = client.get("/accounts/2fa/")
    assert index.status_code == 200
    assert 'class="site-header' in index.text and "Authenticator App" in index.text
    _confirm_password(client, "/accounts/2fa/totp/activate/")
    page = client.get("/accounts/2fa/totp/activate/")
    qr = re.search(r'<img src="(data:image/svg\+xml;base64,[^"]+)"', page.text)
    assert qr, "the QR code is rendered as a data: URI, which the CSP's img-src allows"
    assert "data:" in page["Content-Security-Policy"].split("img-src")[1].split(";")[0]
    # The header's email links to the account pages, whose navigation leads here.
    header_link = 'href="/accounts/email/"'
    for account_page in (client.get("/accounts/email/"), index, page):
        assert header_link in account_page.text
        assert 'class="account-nav"' in account_page.text
        assert 'href="/accounts/2fa/"' in account_page.text

"""Email providers through django-anymail: an EMAIL_URL scheme, and the sender's handling of
their errors."""

import pytest
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.core.mail import mailers

from apps.distribution import sending
from cxplatform.env import mailer_from_url


def test_an_anymail_provider_from_email_url(settings):
    mailer = mailer_from_url("anymail+mailgun://key-123%2Fabc@/?sender_domain=mg.example.com")
    assert mailer == {
        "BACKEND": "anymail.backends.mailgun.EmailBackend",
        "OPTIONS": {"api_key": "key-123/abc", "sender_domain": "mg.example.com"},
    }
    settings.MAILERS = {"default": mailer}
    backend = mailers.default  # Django 6.1 builds it with the options
    assert type(backend).__module__ == "anymail.backends.mailgun"
    assert not sending.Mailer().raw  # providers get Django email messages, not SMTP bytes
    postmark = mailer_from_url("anymail+postmark://?server_token=abc")
    assert postmark["OPTIONS"] == {"server_token": "abc"}
    with pytest.raises(ValueError, match="not an anymail provider"):
        mailer_from_url("anymail+no.such://x@")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (AnymailRecipientsRefused("refused"), ("permanent", True, False)),
        (AnymailAPIError("busy", status_code=429), ("transient", False, False)),
        (AnymailAPIError("down", status_code=503), ("transient", False, False)),
        (AnymailAPIError("bad key", status_code=401), ("permanent", False, False)),
        (AnymailAPIError("no answer"), ("uncertain", False, True)),
    ],
)
def test_provider_errors_are_classified(exc, expected):
    assert sending.classify(exc, None) == expected

"""EMAIL_URL becomes Django's MAILERS entry."""

import pytest

from cxplatform.env import mailer_from_url


def test_smtp_with_starttls_and_credentials():
    mailer = mailer_from_url("smtp+tls://user%40corp:p%3Ass@mail.example.com:587?timeout=5")
    assert mailer["BACKEND"].endswith("smtp.EmailBackend")
    assert mailer["OPTIONS"] == {
        "host": "mail.example.com",
        "port": 587,
        "username": "user@corp",
        "password": "p:ss",
        "use_ssl": False,
        "use_tls": True,
        "timeout": 5.0,
    }


def test_plain_smtp_without_credentials():
    options = mailer_from_url("smtp://mailpit:1025")["OPTIONS"]
    assert (options["host"], options["port"], options["username"]) == ("mailpit", 1025, None)
    assert not options["use_tls"] and not options["use_ssl"]


def test_file_and_console():
    assert mailer_from_url("file:///tmp/mail")["OPTIONS"] == {"file_path": "/tmp/mail"}
    assert mailer_from_url("console://")["BACKEND"].endswith("console.EmailBackend")


@pytest.mark.parametrize("url", ["ftp://x", "file://", "nonsense"])
def test_unknown_or_incomplete_urls_are_refused(url):
    with pytest.raises(ValueError, match="EMAIL_URL"):
        mailer_from_url(url)

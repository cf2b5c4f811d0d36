"""Environment parsing that django-environ does not cover: Django 6.1's MAILERS from EMAIL_URL."""

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}


def mailer_from_url(url: str) -> dict[str, Any]:
    """Turn EMAIL_URL into a MAILERS entry.

    smtp://user:pass@host:587/?tls=1   SMTP (smtp+tls:// for STARTTLS, smtps:// for implicit TLS)
    file:///var/lib/cx/mail            one file per message in that folder
    console://                         printed to stdout
    locmem://                          kept in memory (tests)
    anymail+mailgun://KEY@/?sender_domain=mg.example.com
                                       an email provider through django-anymail: the part
                                       before @ is the API key, query parameters are the
                                       backend's options (e.g. ?server_token=... for postmark)
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if scheme in {"smtp", "smtps", "smtp+tls", "submission"}:
        options: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": parts.port,
            "username": unquote(parts.username or "") or None,
            "password": unquote(parts.password or "") or None,
            "use_ssl": scheme == "smtps" or query.get("ssl", "").lower() in _TRUE,
            "use_tls": scheme in {"smtp+tls", "submission"}
            or query.get("tls", "").lower() in _TRUE,
            "timeout": float(query.get("timeout", 10)),
        }
        return {"BACKEND": "django.core.mail.backends.smtp.EmailBackend", "OPTIONS": options}
    if scheme == "file":
        if not parts.path:
            raise ValueError("EMAIL_URL file:// needs a folder, e.g. file:///var/lib/cx/mail")
        return {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": unquote(parts.path)},
        }
    if scheme == "console":
        return {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "locmem":
        return {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if scheme.startswith("anymail+"):
        esp = scheme.removeprefix("anymail+").replace("-", "_")
        if not esp.isidentifier():
            raise ValueError(f"EMAIL_URL: {esp!r} is not an anymail provider name")
        anymail_options: dict[str, Any] = dict(query)
        api_key = unquote(parts.username or "")
        if api_key:
            anymail_options.setdefault("api_key", api_key)
        return {"BACKEND": f"anymail.backends.{esp}.EmailBackend", "OPTIONS": anymail_options}
    raise ValueError(
        f"EMAIL_URL: unsupported scheme {scheme!r} (smtp, smtps, file, console, anymail+<esp>)"
    )

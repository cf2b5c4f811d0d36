"""The invitation email: placeholders, one message per language, one-click opt-out headers.

A campaign's subject and body are plain text written by people, with placeholders such as
`{{ name }}` and `{{ link }}`. A `Composer` holds what is the same for every recipient (built
once per batch) and turns one recipient into a message with a text and an HTML part.
"""

import binascii
import functools
import html
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from apps.surveys.models import Audience

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
BUILTIN_PLACEHOLDERS = ("name", "email", "link", "organization", "survey")
_TOKEN = "TOKEN0TOKEN"  # noqa: S105 - stands in for a token while URL patterns are reversed


def language_codes() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def placeholder_errors(text: str, allowed: Iterable[str]) -> list[str]:
    """What is wrong with the placeholders of a text (empty when nothing is)."""
    allowed = set(allowed)
    errors = []
    unknown = sorted({name for name in PLACEHOLDER.findall(text) if name not in allowed})
    for name in unknown:
        errors.append(
            _("There is no placeholder {{ %(name)s }}: use one of %(names)s.")
            % {"name": name, "names": ", ".join(f"{{{{ {n} }}}}" for n in sorted(allowed))}
        )
    rest = PLACEHOLDER.sub("", text)
    if "{{" in rest or "}}" in rest:
        errors.append(_("A placeholder is not closed: write it as {{ name }}."))
    return errors


def fill(text: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), text)


def one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Recipient:
    invitation_id: int
    email: str
    token: str
    name: str = ""
    language: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    sent_count: int = 0  # >= 1: this message is a reminder


@dataclass
class _Language:
    subject: str
    body: str
    reminder_subject: str  # with %(subject)s
    notes: list[str]  # after the body: anonymity for employees, the personal-link note
    opt_out: str  # with %(url)s
    test_note: str


class Composer:
    """Builds a campaign's messages; everything shared by its recipients is prepared once."""

    def __init__(
        self,
        *,
        organization_name: str,
        survey_name: str,
        audience: str,
        subjects: Mapping[str, str],
        bodies: Mapping[str, str],
        default_language: str,
        site_url: str | None = None,
        from_email: str | None = None,
    ) -> None:
        self.organization_name = organization_name
        self.survey_name = survey_name
        self.audience = audience
        self.default_language = default_language
        site = (site_url or settings.SITE_URL).rstrip("/")
        self._survey_url = site + reverse("responses:respond", args=[_TOKEN])
        self._opt_out_url = site + reverse("distribution_public:unsubscribe", args=[_TOKEN])
        address = parseaddr(from_email or settings.DEFAULT_FROM_EMAIL)[1]
        self.from_email = formataddr((one_line(organization_name)[:70], address))
        self._from_header = _address_header(one_line(organization_name)[:70], address)
        self._envelope_from = smtp_address(address)
        self._languages: dict[str, _Language] = {}
        for code in language_codes():
            if not (subjects.get(code) or "").strip() or not (bodies.get(code) or "").strip():
                continue
            with translation.override(code):
                notes = []
                if audience == Audience.EMPLOYEE:
                    notes.append(
                        _("Your answers are anonymous: %(organization)s sees only that this "
                          "invitation was used, never which answers are yours.")
                        % {"organization": organization_name}
                    )  # fmt: skip
                notes.append(_("This link is personal: please do not forward this email."))
                self._languages[code] = _Language(
                    subject=subjects[code], body=bodies[code],
                    reminder_subject=_("Reminder: %(subject)s"), notes=notes,
                    opt_out=_("To receive no more survey emails from %(organization)s: %(url)s"),
                    test_note=_("This is a test message: its survey and opt-out links do not "
                                "work."),
                )  # fmt: skip

    @property
    def languages(self) -> list[str]:
        return list(self._languages)

    def language_for(self, recipient: Recipient) -> str:
        if recipient.language in self._languages:
            return recipient.language
        return self.default_language

    def survey_url(self, token: str, language: str) -> str:
        return f"{self._survey_url.replace(_TOKEN, token)}?lang={language}"

    def opt_out_url(self, token: str) -> str:
        return self._opt_out_url.replace(_TOKEN, token)

    def render(self, recipient: Recipient, *, test: bool = False) -> dict[str, str]:
        """Subject, text and HTML of one recipient's message, and its language."""
        language = self.language_for(recipient)
        parts = self._languages[language]
        link = self.survey_url(recipient.token, language)
        opt_out = self.opt_out_url(recipient.token)
        values = {
            **{str(k): str(v) for k, v in recipient.attributes.items()},
            "name": one_line(recipient.name), "email": recipient.email, "link": link,
            "organization": self.organization_name, "survey": self.survey_name,
        }  # fmt: skip
        subject = one_line(fill(parts.subject, values))
        if recipient.sent_count >= 1:
            subject = parts.reminder_subject % {"subject": subject}
        body = fill(parts.body, values).strip()
        opt_out_line = parts.opt_out % {"organization": self.organization_name, "url": opt_out}
        text_parts = ([parts.test_note] if test else []) + [body, *parts.notes]
        text = "\n\n".join(text_parts) + "\n\n-- \n" + opt_out_line + "\n"
        return {
            "language": language, "subject": subject, "text": text,
            "html": self._html(language, subject, text_parts, link, opt_out, opt_out_line),
        }  # fmt: skip

    def _html(
        self,
        language: str,
        subject: str,
        text_parts: list[str],
        link: str,
        opt_out: str,
        opt_out_line: str,
    ) -> str:
        escaped_link = html.escape(link)
        anchor = f'<a href="{escaped_link}">{escaped_link}</a>'

        def paragraphs(text: str) -> str:
            out = []
            for block in _PARAGRAPH_BREAK.split(text):
                escaped = html.escape(block.strip()).replace("\n", "<br>\n")
                out.append(f"<p>{escaped.replace(escaped_link, anchor)}</p>")
            return "\n".join(out)

        escaped_opt_out = html.escape(opt_out)
        footer = html.escape(opt_out_line).replace(
            escaped_opt_out, f'<a href="{escaped_opt_out}">{escaped_opt_out}</a>'
        )
        body = "\n".join(paragraphs(part) for part in text_parts)
        return (
            f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
            f"<title>{html.escape(subject)}</title></head>\n"
            '<body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1f2328; '
            'max-width: 36rem;">\n'
            f"{body}\n"
            f'<hr><p style="font-size: .85em; color: #59636e;">{footer}</p>\n</body></html>\n'
        )

    def _headers(self, recipient: Recipient, language: str) -> dict[str, str]:
        return {
            # RFC 2369 and RFC 8058: mail clients offer "unsubscribe", one click, no page.
            "List-Unsubscribe": f"<{self.opt_out_url(recipient.token)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Content-Language": language,
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "OOF, AutoReply",
        }

    def message(self, recipient: Recipient, *, test: bool = False) -> EmailMultiAlternatives:
        """The message for any mail backend (Django's email API)."""
        rendered = self.render(recipient, test=test)
        to = formataddr((one_line(recipient.name)[:100], recipient.email))
        message = EmailMultiAlternatives(
            subject=rendered["subject"], body=rendered["text"], from_email=self.from_email,
            to=[to], headers=self._headers(recipient, rendered["language"]),
        )  # fmt: skip
        message.attach_alternative(rendered["html"], "text/html")
        return message

    def raw(self, recipient: Recipient) -> tuple[str, str, bytes]:
        """(envelope sender, envelope recipient, RFC 5322 bytes) for an SMTP connection.

        The same message as `message()`, built directly: the standard library's header
        registry parses every header it is given again, which cost more per message than the
        SMTP conversation itself. Raises ValueError for an address SMTP cannot carry.
        """
        rendered = self.render(recipient)
        envelope_to = smtp_address(recipient.email)
        boundary = f"==cx{secrets.token_hex(12)}=="
        headers = {
            "From": self._from_header,
            "To": _address_header(one_line(recipient.name)[:100], recipient.email),
            "Subject": _header("Subject", rendered["subject"]),
            "Date": formatdate(usegmt=True),
            "Message-ID": make_msgid(domain=DNS_NAME.get_fqdn()),
            "MIME-Version": "1.0",
            **self._headers(recipient, rendered["language"]),
            "Content-Type": f'multipart/alternative; boundary="{boundary}"',
        }
        lines = [f"{name}: {value}" for name, value in headers.items()]
        for kind, body in (("plain", rendered["text"]), ("html", rendered["html"])):
            lines += [
                "", f"--{boundary}", f'Content-Type: text/{kind}; charset="utf-8"',
                "Content-Transfer-Encoding: quoted-printable", "",
                binascii.b2a_qp(body.encode(), istext=True).decode("ascii"),
            ]  # fmt: skip
        lines += [f"--{boundary}--", ""]
        data = "\r\n".join(lines).replace("\r\n", "\n").replace("\n", "\r\n")
        return self._envelope_from, envelope_to, data.encode("ascii")


def smtp_address(address: str) -> str:
    """An address as SMTP carries it: the domain in IDNA; a non-ASCII local part cannot go."""
    local, _at, domain = address.rpartition("@")
    if not local or not local.isascii() or any(c in address for c in "\r\n<>"):
        raise ValueError(f"{address!r} cannot be sent over SMTP")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


@functools.lru_cache(maxsize=256)  # a campaign's subjects repeat from one message to the next
def _header(name: str, value: str) -> str:
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, header_name=name).encode(linesep="\r\n")


def _address_header(name: str, address: str) -> str:
    return formataddr((name, smtp_address(address)), charset="utf-8")


def default_messages(audience: str) -> tuple[dict[str, str], dict[str, str]]:
    """Starting subjects and bodies in every language, for a new campaign."""
    subjects, bodies = {}, {}
    for code in language_codes():
        with translation.override(code):
            subjects[code] = _("{{ organization }}: how did we do?")
            if audience == Audience.EMPLOYEE:
                bodies[code] = _(
                    "Hello {{ name }},\n\nHow do you think our customers experience our "
                    "service? Your view, next to theirs, shows us where to improve. Answering "
                    "takes a few minutes:\n\n{{ link }}\n\nThank you!"
                )
            else:
                bodies[code] = _(
                    "Hello {{ name }},\n\n{{ organization }} would like to hear about your "
                    "experience. Answering takes a few minutes:\n\n{{ link }}\n\nThank you!"
                )
    return subjects, bodies

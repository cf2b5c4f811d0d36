"""Asking customers whether they may be contacted, and keeping their details only if they agree.

The questions are ordinary customer-side items with reserved keys (a yes/no choice and three
texts), added to a questionnaire by `contact_questions_add`. The respondent write path calls
`contact_answers_honour_consent` while validating: without a "yes" to the consent question the
contact answers are dropped before anything is stored, whatever the form sent.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

CONSENT_KEY = "contact:consent"
CONSENT_YES = "yes"
# Item key -> the contact field it holds.
CONTACT_KEYS = {"contact:name": "name", "contact:email": "email", "contact:phone": "phone"}
MAX_PHONE = 40

CONSENT_TEXTS = {
    "en": "May we contact you about your answers?",
    "fi": "Saammeko ottaa sinuun yhteyttä vastaustesi johdosta?",
}
CONSENT_CHOICES = [
    {
        "value": "yes",
        "texts": {"en": "Yes, you may contact me", "fi": "Kyllä, saatte ottaa yhteyttä"},
    },
    {"value": "no", "texts": {"en": "No", "fi": "Ei"}},
]
CONTACT_TEXTS = {
    "contact:name": {
        "en": "Your name (only if you agreed to be contacted)",
        "fi": "Nimesi (vain jos annoit luvan yhteydenottoon)",
    },
    "contact:email": {
        "en": "Your email address (only if you agreed to be contacted)",
        "fi": "Sähköpostiosoitteesi (vain jos annoit luvan yhteydenottoon)",
    },
    "contact:phone": {
        "en": "Your phone number (only if you agreed to be contacted)",
        "fi": "Puhelinnumerosi (vain jos annoit luvan yhteydenottoon)",
    },
}


def is_contact_key(key: str) -> bool:
    return key == CONSENT_KEY or key in CONTACT_KEYS


def contact_answers_honour_consent(
    cleaned: Sequence[Any], errors: dict[str, list[str]], *, field_name: Callable[[Any], str]
) -> tuple[list[Any], dict[str, list[str]]]:
    """Drop contact answers unless the consent question was answered "yes"; check the email
    address and phone number of those who agreed. `cleaned` holds the respondent path's
    CleanedAnswer objects (an `item` with a `key`, `choices`, `text`)."""
    if not any(
        answer.item.key in CONTACT_KEYS or answer.item.key == CONSENT_KEY for answer in cleaned
    ):
        return list(cleaned), errors
    consent = any(
        answer.item.key == CONSENT_KEY and list(answer.choices) == [CONSENT_YES]
        for answer in cleaned
    )
    if not consent:
        return [answer for answer in cleaned if answer.item.key not in CONTACT_KEYS], errors
    for answer in cleaned:
        kind = CONTACT_KEYS.get(answer.item.key)
        text = answer.text.strip()
        if kind == "email" and text:
            try:
                validate_email(text)
            except ValidationError:
                errors[field_name(answer.item)] = [_("Enter a valid email address.")]
        elif kind == "phone" and text:
            digits = [c for c in text if c.isdigit()]
            if (
                len(text) > MAX_PHONE
                or len(digits) < 5
                or any(not (c.isdigit() or c in " +-()") for c in text)
            ):
                errors[field_name(answer.item)] = [_("Enter a valid phone number.")]
    return list(cleaned), errors


def contact_from_answers(
    answers: Sequence[tuple[str, list[str], str]], invitation: dict[str, str] | None
) -> dict[str, str] | None:
    """The contact an alert handler may see: the respondent's details (or, for an invitation
    response, the invited person's) when they said "yes" to being contacted, else None.

    `answers`: (item key, choices, text) of the response's answers.
    """
    consent = any(
        key == CONSENT_KEY and list(choices) == [CONSENT_YES] for key, choices, _text in answers
    )
    if not consent:
        return None
    contact = {field: "" for field in ("name", "email", "phone")}
    if invitation:
        contact.update({k: v for k, v in invitation.items() if k in contact and v})
    for key, _choices, text in answers:
        field = CONTACT_KEYS.get(key)
        if field and text.strip():
            contact[field] = text.strip()
    return contact

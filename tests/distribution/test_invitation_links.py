"""Personal invitation links on the respondent pages: what the token is, what the pages show,
and when they close."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.distribution.campaign_selectors import invitation_resolve
from apps.distribution.models import SurveyInvitation
from apps.surveys.services import questionnaire_close
from tests.distribution.mail_fixtures import MESSAGES, campaign, contact_list, send
from tests.journeys.helpers import principal
from tests.responses.helpers import form_fields, full_answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(org, analyst, questionnaire, django_capture_on_commit_callbacks, settings):
    settings.DISTRIBUTION_SEND_RATE = 0
    settings.RESPONDENT_MIN_SECONDS = 0
    people = [(f"p{i}@example.com", f"P{i}", "fi" if i else "en", {"segment": "B2B"})
              for i in range(3)]  # fmt: skip
    contacts = contact_list(org, analyst, people=people)
    created = campaign(org, analyst, questionnaire, contacts, subjects=MESSAGES["subjects"],
                       bodies={k: v.replace("{{ region }}", "") for k, v in
                               MESSAGES["bodies"].items()})  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        send(org, analyst, created)
    created.refresh_from_db()
    return created


def rows(created):
    return SurveyInvitation.objects.for_organization(created.organization_id).filter(
        campaign=created
    )


def test_each_token_is_random_unique_and_the_only_thing_in_the_url(sent):
    tokens = list(rows(sent).values_list("token", flat=True))
    assert len(set(tokens)) == 3
    assert all(len(t) == 32 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)
    assert sent.link.token not in tokens


def test_the_form_opens_in_the_invitations_language_and_thanks_stays_personal(client, sent):
    invitation = rows(sent).get(email="p1@example.com")
    page = client.get(f"/s/{invitation.token}/?lang=fi")
    assert page.status_code == 200 and '<html lang="fi">' in page.content.decode()
    assert sent.link.token not in page.content.decode()
    payload = {**form_fields(page.content.decode()), **full_answers(sent.link), "step": "2",
               "action": "submit"}  # fmt: skip
    done = client.post(f"/s/{invitation.token}/", payload)
    assert done["Location"].startswith(f"/s/{invitation.token}/thanks/")
    thanks = client.get(done["Location"])
    assert thanks.status_code == 200 and sent.link.token not in thanks.content.decode()


def test_closing_the_questionnaire_closes_the_invitations(client, org, analyst, sent,
                                                         questionnaire):  # fmt: skip
    token = rows(sent).first().token
    questionnaire_close(organization=org, actor=principal(org, analyst),
                        questionnaire=questionnaire)  # fmt: skip
    assert client.get(f"/s/{token}/").status_code == 410


def test_unknown_tokens_are_a_plain_404(client, sent):
    assert client.get("/s/" + "x" * 32 + "/").status_code == 404
    assert invitation_resolve("") is None and invitation_resolve("y" * 65) is None


def test_resolving_an_invitation_is_two_queries(sent):
    # The token function (row id and organisation), then the invitation with its campaign's
    # link through the organisation's row-level security policy.
    token = rows(sent).first().token
    with CaptureQueriesContext(connection) as queries:
        entry = invitation_resolve(token)
        assert entry is not None
        assert entry.link.questionnaire.published_version is not None
        assert entry.link.organization.time_zone
    assert len(queries) == 2
    assert entry.link.context == {"segment": "B2B"} and not entry.answered

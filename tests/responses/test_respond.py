"""The respondent pages: opening a link, the two steps, storing once, and what is refused."""

import datetime
import re
import uuid

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.distribution.selectors import link_resolve
from apps.distribution.services import link_update
from apps.responses import services
from apps.responses.models import Answer, PendingResponse, Response
from apps.responses.selectors import respondent_items
from apps.responses.services import Respondent, field_name, response_submit
from apps.responses.views import STAMP_SALT
from apps.surveys.models import ItemKind
from apps.surveys.services import item_update, questionnaire_publish
from tests.journeys.helpers import principal

from .helpers import form_fields, full_answers, items_of, open_form, submit

pytestmark = pytest.mark.django_db


def _responses(link):
    return Response.objects.for_organization(link.organization_id)


def _item(link, kind, n=0):
    return [i for i in items_of(link) if i.kind == kind][n]


# --- opening a link -----------------------------------------------------------------------


def test_unknown_token_is_a_404_page_that_reveals_nothing(client, customer_link):
    response = client.get("/s/not-a-real-token-at-all-000000000/")
    assert response.status_code == 404
    assert "Survey not found" in response.content.decode()
    assert customer_link.organization.name not in response.content.decode()


@pytest.mark.parametrize(
    "change",
    [{"status": "paused"}, {"status": "closed"},
     {"ends_at": timezone.now() - datetime.timedelta(minutes=1)}],
    ids=["paused", "closed", "ended"],
)  # fmt: skip
def test_paused_closed_or_ended_link_is_a_friendly_410(client, org, analyst, customer_link, change):
    hidden = open_form(client, customer_link)
    link_update(organization=org, actor=principal(org, analyst), link=customer_link, **change)
    response = client.get(f"/s/{customer_link.token}/")
    assert response.status_code == 410
    assert "This survey has closed" in response.content.decode()
    # A form opened before the link closed cannot be sent either.
    assert submit(client, customer_link, full_answers(customer_link), hidden).status_code == 410
    assert not _responses(customer_link).exists()


def test_form_page_is_light_with_one_optional_script_and_no_organisation(client, customer_link):
    response = client.get(f"/s/{customer_link.token}/")
    html = response.content.decode()
    # One deferred file, allowed by the page's CSP nonce; no inline script or handler.
    scripts = re.findall(r"<script[^>]*>", html)
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert scripts == [f'<script src="/static/js/respondent.js" nonce="{nonce}" defer>']
    assert not re.search(r"\son[a-z]+=", html)
    assert customer_link.organization.name not in html
    assert len(response.content) < 30_000
    assert "private" in response["Cache-Control"]
    assert "no-cache" in response["Cache-Control"]


def test_language_from_link_then_browser(client, customer_link):
    by_link = client.get(f"/s/{customer_link.token}/?lang=fi", HTTP_ACCEPT_LANGUAGE="en")
    assert '<html lang="fi">' in by_link.content.decode()
    assert "Vaihe 1/2" in by_link.content.decode() or "Kyllä" in by_link.content.decode()
    by_browser = client.get(f"/s/{customer_link.token}/", HTTP_ACCEPT_LANGUAGE="fi-FI,fi;q=0.9")
    assert '<html lang="fi">' in by_browser.content.decode()
    default = client.get(f"/s/{customer_link.token}/", HTTP_ACCEPT_LANGUAGE="de")
    assert '<html lang="en">' in default.content.decode()


# --- the two steps --------------------------------------------------------------------------


def test_screening_first_then_only_used_touchpoints(client, customer_link):
    hidden = open_form(client, customer_link)
    screening = [i for i in items_of(customer_link) if i.kind == ItemKind.SCREENING]
    used, unused = screening[0], screening[1]
    answers = {field_name(s): "no" for s in screening} | {field_name(used): "yes"}
    response = client.post(f"/s/{customer_link.token}/", {**hidden, **answers, "action": "next"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="step" value="2"' in html
    ratings = [i for i in items_of(customer_link) if i.kind == ItemKind.RATING]
    shown = {i.touchpoint_id for i in ratings if f'name="{field_name(i)}" value' in html
             and 'type="radio"' in html}  # fmt: skip
    assert f'name="{field_name(_item(customer_link, ItemKind.NPS))}"' in html
    rating_of_used = next(i for i in ratings if i.touchpoint_id == used.touchpoint_id)
    rating_of_unused = next(i for i in ratings if i.touchpoint_id == unused.touchpoint_id)
    assert f'type="radio" name="{field_name(rating_of_used)}"' in html
    assert f'name="{field_name(rating_of_unused)}"' not in html
    assert shown
    # The screening answers travel in hidden fields, and come back on "back".
    assert f'<input type="hidden" name="{field_name(used)}" value="yes">' in html
    back = client.post(
        f"/s/{customer_link.token}/", {**form_fields(html), "step": "2", "action": "back"}
    )
    assert f'name="{field_name(used)}" value="yes" id="{field_name(used)}-first" checked' in (
        back.content.decode()
    )


def test_screening_unanswered_is_an_error_next_to_the_field(client, customer_link):
    hidden = open_form(client, customer_link)
    response = client.post(f"/s/{customer_link.token}/", {**hidden, "action": "next"})
    html = response.content.decode()
    screening = _item(customer_link, ItemKind.SCREENING)
    assert response.status_code == 400
    assert f'aria-describedby="{field_name(screening)}-error"' in html
    assert f'id="{field_name(screening)}-error"' in html
    assert 'role="alert"' in html


def test_language_switch_keeps_answers(client, customer_link):
    hidden = open_form(client, customer_link)
    screening = _item(customer_link, ItemKind.SCREENING)
    response = client.post(
        f"/s/{customer_link.token}/",
        {**hidden, field_name(screening): "yes", "switch_lang": "fi"},
    )
    html = response.content.decode()
    assert '<html lang="fi">' in html
    assert f'value="yes" id="{field_name(screening)}-first" checked' in html


# --- storing --------------------------------------------------------------------------------


def test_full_submission_in_finnish_is_stored_unprocessed_and_queued(
    client, customer_link, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.responses import tasks

    queued = []
    monkeypatch.setattr(tasks.process_response, "apply_async",
                        lambda kwargs, **options: queued.append(kwargs))  # fmt: skip
    form = client.get(f"/s/{customer_link.token}/", HTTP_ACCEPT_LANGUAGE="fi").content.decode()
    assert "Kyllä" in form  # the questionnaire's own Finnish wording
    hidden = form_fields(form)
    answers = full_answers(customer_link, used=2)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = submit(client, customer_link, answers, hidden,
                          HTTP_USER_AGENT="Phone", REMOTE_ADDR="203.0.113.9")  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/s/{customer_link.token}/thanks/?lang=fi"
    stored = _responses(customer_link).get()
    assert len(callbacks) == 1
    assert queued == [{"organization_id": stored.organization_id}]  # the organisation's batch
    assert _responses(customer_link).filter(pending__isnull=False).get() == stored  # unprocessed
    assert stored.language == "fi"
    assert stored.audience == "customer"
    assert stored.version_id == customer_link.questionnaire.published_version_id
    assert stored.ip_address == "203.0.113.9"
    assert stored.user_agent == "Phone"
    assert stored.submitted_at is not None
    assert Answer.objects.for_organization(stored.organization_id).filter(
        response=stored
    ).count() == len(answers)
    nps = Answer.objects.for_organization(stored.organization_id).get(
        response=stored, item=_item(customer_link, ItemKind.NPS)
    )
    assert nps.value == 9
    thanks = client.get(response["Location"]).content.decode()
    assert '<html lang="fi">' in thanks
    assert "Fine." not in thanks


# transaction=True: as in production, the service's atomic block is the outermost one (inside a
# test transaction it would add a SAVEPOINT and its RELEASE to the count).
@pytest.mark.django_db(transaction=True)
def test_twenty_answer_submission_takes_at_most_five_queries(
    client, customer_link, django_assert_max_num_queries, monkeypatch
):
    # Only the request's own statements: processing is queued after the commit (with an eager
    # Celery it would run right here, in this count).
    monkeypatch.setattr(services, "_queue", lambda response: None)
    hidden = open_form(client, customer_link)
    answers = full_answers(customer_link)
    assert len(answers) >= 20
    with CaptureQueriesContext(connection) as request_queries:
        response = submit(client, customer_link, answers, hidden)
    assert response.status_code == 302
    # The whole request: find the link, load the version's items, the INSERT(s). SQLite also logs
    # its BEGIN/COMMIT (PostgreSQL does not), so those are left out of this count.
    statements = [q["sql"] for q in request_queries.captured_queries
                  if q["sql"] not in ("BEGIN", "COMMIT")]  # fmt: skip
    assert len(statements) <= 5, statements
    stored = _responses(customer_link).get()
    assert Answer.objects.for_organization(stored.organization_id).filter(
        response=stored
    ).count() == len(answers)


@pytest.mark.django_db(transaction=True)
def test_the_write_is_one_transaction_of_at_most_five_queries(
    customer_link, django_assert_max_num_queries, monkeypatch
):
    monkeypatch.setattr(services, "_queue", lambda response: None)
    link = link_resolve(customer_link.token)
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    answers = full_answers(link)
    data = {name: [value] for name, value in answers.items()}
    respondent = Respondent(idempotency_key=uuid.uuid4(), language="en",
                            started_at=timezone.now(), segment={})  # fmt: skip
    with django_assert_max_num_queries(5) as queries:  # BEGIN, 3 INSERTs, COMMIT on SQLite
        stored = response_submit(link=link, items=items, data=data, respondent=respondent)
    assert stored is not None
    # A prepared statement is logged by Django as "QUERY = '...' - PARAMS = ...".
    writes = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    # PostgreSQL: one statement inserts the response, its answers and its pending row for the
    # scoring pipeline (atomic by itself).
    assert len(writes) == (1 if connection.vendor == "postgresql" else 3), writes
    assert (
        Answer.objects.for_organization(link.organization_id).filter(response=stored).count()
        == len(answers)
        >= 20
    )
    pending = PendingResponse.objects.for_organization(link.organization_id).get()
    assert (pending.response_id, pending.organization_id) == (stored.pk, link.organization_id)


def test_double_submit_stores_one_response(client, customer_link):
    hidden = open_form(client, customer_link)
    answers = full_answers(customer_link, used=1)
    first = submit(client, customer_link, answers, hidden)
    second = submit(client, customer_link, answers, hidden)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert _responses(customer_link).count() == 1
    assert PendingResponse.objects.for_organization(customer_link.organization_id).count() == 1


def test_two_tabs_are_two_forms_and_two_responses(client, customer_link):
    answers = full_answers(customer_link, used=1)
    submit(client, customer_link, answers, open_form(client, customer_link))
    submit(client, customer_link, answers, open_form(client, customer_link))
    assert _responses(customer_link).count() == 2


def test_employee_response_keeps_no_address_agent_or_time(client, employee_link):
    response = submit(client, employee_link, full_answers(employee_link, used=1),
                      HTTP_USER_AGENT="Laptop", REMOTE_ADDR="198.51.100.7")  # fmt: skip
    assert response.status_code == 302
    stored = _responses(employee_link).get()
    assert stored.audience == "employee"
    assert stored.ip_address is None
    assert stored.user_agent == ""
    assert stored.submitted_at is None
    # The organisation's day, not the server's (Helsinki is ahead of UTC late in the evening).
    from apps.scoring.filters import organization_today

    assert stored.submitted_on == organization_today(employee_link.organization)


def test_context_of_the_link_and_whitelisted_url_attributes_become_the_segment(
    client, org, analyst, questionnaire, make_link
):
    from apps.distribution.services import context_attribute_set

    actor = principal(org, analyst)
    context_attribute_set(organization=org, actor=actor, questionnaire=questionnaire,
                          name="store", allowed_values=["Helsinki", "Espoo"])  # fmt: skip
    context_attribute_set(organization=org, actor=actor, questionnaire=questionnaire,
                          name="channel")  # fmt: skip
    link = make_link(context={"store": "Helsinki"})
    # The link's own context wins; unknown attributes and values are dropped.
    hidden = open_form(client, link, QUERY_STRING="store=Espoo&channel=web&secret=x")
    submit(client, link, full_answers(link, used=1), hidden)
    assert _responses(link).get().segment == {"store": "Helsinki", "channel": "web"}


def test_form_opened_before_a_new_version_is_stored_against_the_old_one(
    client, org, analyst, customer_link
):
    old_version = customer_link.questionnaire.published_version_id
    hidden = open_form(client, customer_link)
    nps = _item(customer_link, ItemKind.NPS)
    actor = principal(org, analyst)
    item_update(
        organization=org,
        actor=actor,
        item=nps,
        texts={"en": "Recommend?", "fi": "Suosittelisitko?"},
    )
    questionnaire_publish(organization=org, actor=actor, questionnaire=customer_link.questionnaire)
    response = submit(client, customer_link, full_answers(customer_link, used=1), hidden)
    assert response.status_code == 302
    assert _responses(customer_link).get().version_id == old_version


# --- refusals: a clear error, nothing stored ------------------------------------------------


@pytest.mark.parametrize("value", ["6", "0", "-1", "five"])
def test_out_of_range_rating_is_an_error_next_to_the_field(client, customer_link, value):
    answers = full_answers(customer_link, used=1)
    overall = _item(customer_link, ItemKind.OVERALL)
    answers[field_name(overall)] = value
    response = submit(client, customer_link, answers)
    html = response.content.decode()
    assert response.status_code == 400
    assert f'id="{field_name(overall)}-error"' in html
    assert f'aria-describedby="{field_name(overall)}-error' in html
    assert not _responses(customer_link).exists()


def test_missing_required_answer_is_refused(client, customer_link):
    answers = full_answers(customer_link, used=1)
    nps = _item(customer_link, ItemKind.NPS)
    del answers[field_name(nps)]
    response = submit(client, customer_link, answers)
    assert response.status_code == 400
    assert f'id="{field_name(nps)}-error"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_unknown_item_and_unknown_choice_are_refused(client, customer_link, employee_link):
    answers = full_answers(customer_link, used=1)
    other_side = _item(employee_link, ItemKind.NPS)  # an item, but not of this side
    response = submit(client, customer_link, {**answers, field_name(other_side): "9",
                                              "i999999": "1"})  # fmt: skip
    assert response.status_code == 400
    assert "Unknown question." in response.content.decode()
    screening = _item(customer_link, ItemKind.SCREENING)
    response = submit(client, customer_link, {**answers, field_name(screening): "maybe"})
    assert response.status_code == 400
    assert f'id="{field_name(screening)}-error"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_version_of_another_questionnaire_is_refused(client, org, analyst, journey, customer_link):
    from apps.surveys.services import questionnaire_generate

    actor = principal(org, analyst)
    other = questionnaire_generate(organization=org, actor=actor, journey=journey, name="Other")
    other_version = questionnaire_publish(organization=org, actor=actor, questionnaire=other)
    hidden = open_form(client, customer_link)
    stamp = signing.loads(hidden["stamp"], salt=STAMP_SALT)
    hidden["stamp"] = signing.dumps({**stamp, "v": other_version.pk}, salt=STAMP_SALT)
    response = submit(client, customer_link, full_answers(customer_link, used=1), hidden)
    assert response.status_code == 400
    assert 'data-field="version"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_tampered_stamp_is_refused(client, customer_link):
    hidden = open_form(client, customer_link)
    hidden["stamp"] = hidden["stamp"][:-2] + "xx"
    response = submit(client, customer_link, full_answers(customer_link, used=1), hidden)
    assert response.status_code == 400
    assert 'data-field="stamp"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_oversized_payload_is_refused(client, customer_link):
    answers = full_answers(customer_link, used=1)
    comment = _item(customer_link, ItemKind.COMMENT)
    answers[field_name(comment)] = "x" * 70_000
    response = submit(client, customer_link, answers)
    assert response.status_code == 413
    assert 'data-field="body"' in response.content.decode()
    answers[field_name(comment)] = "x" * 2_001  # under the body limit, over the answer limit
    response = submit(client, customer_link, answers)
    assert response.status_code == 400
    assert f'id="{field_name(comment)}-error"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_wrong_content_type_is_refused(client, customer_link):
    hidden = open_form(client, customer_link)
    response = client.post(f"/s/{customer_link.token}/", {**hidden, "action": "submit"},
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    assert 'data-field="content_type"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_honeypot_looks_successful_and_stores_nothing(client, customer_link):
    answers = full_answers(customer_link, used=1)
    response = submit(client, customer_link, {**answers, "website": "http://spam.example"})
    assert response.status_code == 302
    assert not _responses(customer_link).exists()


def test_too_fast_is_refused_and_accepted_after_a_moment(client, customer_link, settings):
    settings.RESPONDENT_MIN_SECONDS = 3
    hidden = open_form(client, customer_link)
    answers = full_answers(customer_link, used=1)
    response = submit(client, customer_link, answers, hidden)
    assert response.status_code == 400
    assert "quick" in response.content.decode()
    assert not _responses(customer_link).exists()
    stamp = signing.loads(hidden["stamp"], salt=STAMP_SALT)
    hidden["stamp"] = signing.dumps({**stamp, "t": stamp["t"] - 5}, salt=STAMP_SALT)
    assert submit(client, customer_link, answers, hidden).status_code == 302
    assert _responses(customer_link).count() == 1


# --- kiosk, one per device, rate limits -----------------------------------------------------


def test_kiosk_thanks_page_resets_to_a_fresh_form_without_previous_answers(client, make_link):
    kiosk = make_link(kiosk=True)
    answers = full_answers(kiosk, used=1)
    response = submit(client, kiosk, answers)
    thanks = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in thanks  # no timed reset (WCAG 2.2.1, axe meta-refresh)
    assert f'<a class="button" href="/s/{kiosk.token}/" data-start>' in thanks  # works without JS
    # The countdown (respondent.js) is there, hidden until the script shows it.
    assert re.search(r'<div class="kiosk-reset" data-kiosk-reset data-seconds="30"[^>]* hidden>',
                     thanks)  # fmt: skip
    assert "Fine." not in thanks
    assert "no-store" in client.get(response["Location"])["Cache-Control"]
    fresh_response = client.get(f"/s/{kiosk.token}/")
    assert "no-store" in fresh_response["Cache-Control"]
    fresh = fresh_response.content.decode()
    assert "checked" not in fresh
    assert form_fields(fresh)["stamp"] != ""


def test_one_response_per_device(client, make_link):
    link = make_link(one_response_per_device=True)
    submit(client, link, full_answers(link, used=1))
    again = client.get(f"/s/{link.token}/")
    assert again.status_code == 200
    assert "You have already answered" in again.content.decode()
    assert _responses(link).count() == 1


def test_rate_limit_per_address_spares_other_addresses(client, customer_link, settings):
    settings.RESPONDENT_RATE_PER_ADDRESS = 3
    url = f"/s/{customer_link.token}/"
    codes = [client.get(url, REMOTE_ADDR="192.0.2.1").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get(url, REMOTE_ADDR="192.0.2.2").status_code == 200


def test_rate_limit_per_link(client, customer_link, make_link, settings):
    settings.RESPONDENT_RATE_PER_LINK = 2
    url = f"/s/{customer_link.token}/"
    codes = [client.get(url, REMOTE_ADDR=f"192.0.2.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]
    other = make_link(name="Other")
    assert client.get(f"/s/{other.token}/", REMOTE_ADDR="192.0.2.9").status_code == 200


def test_stamp_does_not_name_the_organisation(client, customer_link):
    stamp = signing.loads(open_form(client, customer_link)["stamp"], salt=STAMP_SALT)
    assert set(stamp) == {"l", "v", "k", "t", "s"}
    assert uuid.UUID(stamp["k"]).version == 4
    assert not re.search(customer_link.organization.slug, str(stamp))


def test_a_lost_race_on_the_idempotency_key_stores_nothing_new(customer_link):
    link = link_resolve(customer_link.token)
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    data = {name: [value] for name, value in full_answers(link, used=1).items()}
    respondent = Respondent(idempotency_key=uuid.uuid4(), language="en",
                            started_at=timezone.now(), segment={})  # fmt: skip
    first = response_submit(link=link, items=items, data=data, respondent=respondent)
    # The second insert hits the unique key (what a concurrent twin request does).
    assert response_submit(link=link, items=items, data=data, respondent=respondent) is None
    assert _responses(link).get() == first
    assert Answer.objects.for_organization(link.organization_id).count() == len(data)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_one_response(customer_link):
    import threading

    from django.db import connections

    link = link_resolve(customer_link.token)
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    data = {name: [value] for name, value in full_answers(link, used=1).items()}
    respondent = Respondent(idempotency_key=uuid.uuid4(), language="en",
                            started_at=timezone.now(), segment={})  # fmt: skip
    barrier = threading.Barrier(4, timeout=10)
    results: list[object] = []

    def post_twin() -> None:
        try:
            barrier.wait()
            results.append(response_submit(link=link, items=items, data=data,
                                           respondent=respondent))  # fmt: skip
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post_twin) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert sum(result is not None for result in results) == 1
    assert _responses(link).count() == 1


def test_opening_the_form_takes_three_queries(client, customer_link, django_assert_max_num_queries):
    # The token's row and organisation (through the one narrow token function: row-level
    # security hides every organisation's links until then), the link with its version, the
    # version's items. Cached per process afterwards: the submit path reads none of them.
    with django_assert_max_num_queries(3):
        assert client.get(f"/s/{customer_link.token}/").status_code == 200


def test_thanks_of_unknown_token_is_404_and_limited_pages_say_when_to_retry(
    client, customer_link, settings
):
    assert client.get("/s/nope/thanks/").status_code == 404
    settings.RESPONDENT_RATE_PER_ADDRESS = 0
    limited = client.get(f"/s/{customer_link.token}/")
    assert limited.status_code == 429
    assert limited["Retry-After"] == "60"
    assert "try again" in limited.content.decode()


def test_other_methods_are_refused(client, customer_link):
    assert client.put(f"/s/{customer_link.token}/").status_code == 405


def test_not_applicable_is_stored_as_such_and_unused_touchpoints_are_dropped(client, customer_link):
    answers = full_answers(customer_link, used=1)
    ratings = [i for i in items_of(customer_link) if i.kind == ItemKind.RATING]
    used_rating = next(i for i in ratings if field_name(i) in answers)
    unused_rating = next(i for i in ratings if field_name(i) not in answers)
    answers[field_name(used_rating)] = "na"
    answers[field_name(unused_rating)] = "2"  # answered, then the touchpoint was set to "no"
    assert submit(client, customer_link, answers).status_code == 302
    stored = _responses(customer_link).get()
    rows = {a.item_id: a for a in Answer.objects.for_organization(stored.organization_id)}
    assert rows[used_rating.pk].not_applicable is True
    assert rows[used_rating.pk].value is None
    assert unused_rating.pk not in rows


def test_na_is_refused_where_not_offered(client, customer_link):
    answers = full_answers(customer_link, used=0)
    nps = _item(customer_link, ItemKind.NPS)
    answers[field_name(nps)] = "na"
    response = submit(client, customer_link, answers)
    assert response.status_code == 400
    assert f'id="{field_name(nps)}-error"' in response.content.decode()
    assert not _responses(customer_link).exists()


def test_using_no_touchpoint_asks_only_the_outcomes(client, customer_link):
    hidden = open_form(client, customer_link)
    answers = full_answers(customer_link, used=0)
    response = client.post(f"/s/{customer_link.token}/", {**hidden, **answers, "action": "next"})
    html = response.content.decode()
    rating = _item(customer_link, ItemKind.RATING)
    assert f'name="{field_name(rating)}"' not in html
    assert f'name="{field_name(_item(customer_link, ItemKind.OVERALL))}"' in html


def test_a_broker_outage_still_thanks_the_respondent_and_keeps_the_response(
    client, customer_link, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.responses import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.process_response, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, customer_link, full_answers(customer_link, used=1))
    assert response.status_code == 302
    assert _responses(customer_link).filter(pending__isnull=False).exists()  # unprocessed


def test_published_items_are_loaded_once_per_process(customer_link, django_assert_num_queries):
    from apps.responses.selectors import respondent_items

    version_id = customer_link.questionnaire.published_version_id
    first = respondent_items(link=customer_link, version_id=version_id)
    with django_assert_num_queries(0):
        again = respondent_items(link=customer_link, version_id=version_id)
    assert [i.pk for i in again] == [i.pk for i in first] and again
    assert again is not first  # callers get their own list


def test_an_unpublished_version_is_not_cached_as_empty(customer_link):
    from apps.responses import selectors

    assert selectors.respondent_items(link=customer_link, version_id=10**9) == []
    assert not selectors._PUBLISHED_ITEMS


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("", "-"),
        (None, "-"),
        ("not-an-address", "-"),
    ],
)
def test_rate_limit_counts_an_ipv6_client_by_its_64(address, key):
    from apps.responses.ratelimit import address_key

    assert address_key(address) == key


def test_many_addresses_of_one_ipv6_64_share_one_allowance(client, customer_link, settings):
    settings.RESPONDENT_RATE_PER_ADDRESS = 5
    statuses = [
        client.get(f"/s/{customer_link.token}/", REMOTE_ADDR=f"2001:db8:1:2::{n:x}").status_code
        for n in range(1, 9)
    ]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    # Another /64 is another client.
    assert client.get(f"/s/{customer_link.token}/", REMOTE_ADDR="2001:db8:9::1").status_code == 200


def test_a_link_paused_by_another_process_closes_here_within_the_link_cache_bound(
    client, customer_link, monkeypatch
):
    """Another web process pauses the link (no signal reaches this one): this process keeps its
    cached link for at most LINK_CACHE_SECONDS, then answers 410 to the form and its posts."""
    from types import SimpleNamespace

    from apps.distribution.models import SurveyLink
    from apps.responses import selectors

    clock = [1000.0]
    monkeypatch.setattr(selectors, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    hidden = open_form(client, customer_link)  # cached here now
    SurveyLink.objects.for_organization(customer_link.organization_id).filter(
        pk=customer_link.pk
    ).update(status="paused")  # an UPDATE: no post_save, as if saved in another process
    clock[0] += selectors.LINK_CACHE_SECONDS - 0.1
    assert client.get(f"/s/{customer_link.token}/").status_code == 200  # still within the bound
    clock[0] += 0.2
    assert client.get(f"/s/{customer_link.token}/").status_code == 410
    assert submit(client, customer_link, full_answers(customer_link), hidden).status_code == 410
    assert not _responses(customer_link).exists()

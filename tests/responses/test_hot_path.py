"""What the respondent hot path leaves out, and what it must keep: the account middleware is
stepped over on /s/ pages only, the answers' composite foreign key still guards integrity, and
the write is a prepared statement."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.distribution.selectors import link_resolve
from apps.responses import services
from apps.responses.models import Answer, Response
from apps.responses.selectors import respondent_items
from apps.responses.services import Respondent, response_submit

from .helpers import full_answers, items_of, open_form, submit

pytestmark = pytest.mark.django_db


def test_respondent_pages_set_no_session_or_csrf_cookie_and_keep_security_headers(
    client, customer_link
):
    page = client.get(f"/s/{customer_link.token}/", HTTP_ACCEPT_LANGUAGE="fi")
    assert page.status_code == 200
    assert '<html lang="fi">' in page.content.decode()  # the language still follows the browser
    assert not page.cookies  # no session, no CSRF cookie: respondents have neither
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in page
    assert page["X-Request-ID"]
    assert not hasattr(page.wsgi_request, "session")
    assert not hasattr(page.wsgi_request, "user")
    hidden = open_form(client, customer_link)
    assert submit(client, customer_link, full_answers(customer_link), hidden).status_code == 302


def test_other_pages_keep_session_and_user(client):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert page.wsgi_request.user.is_anonymous
    assert hasattr(page.wsgi_request, "session")
    assert "csrftoken" in page.cookies  # the login form's CSRF cookie


def test_a_slashless_respondent_url_still_redirects(client, customer_link):
    response = client.get(f"/s/{customer_link.token}")
    assert response.status_code == 301
    assert response["Location"] == f"/s/{customer_link.token}/"


@pytest.mark.postgres  # the composite key exists on PostgreSQL only
@pytest.mark.django_db(transaction=True)
def test_an_answer_must_belong_to_its_responses_organization(client, customer_link, other_org):
    hidden = open_form(client, customer_link)
    assert submit(client, customer_link, full_answers(customer_link), hidden).status_code == 302
    stored = Response.objects.for_organization(customer_link.organization_id).get()
    item = items_of(customer_link)[0]
    cases = [
        {"organization_id": other_org.pk, "response_id": stored.pk},  # another organisation's
        {"organization_id": stored.organization_id, "response_id": stored.pk + 1000},  # none
    ]
    for case in cases:
        with pytest.raises(IntegrityError), transaction.atomic():
            Answer.unscoped.create(item_id=item.pk, value=3, **case)
    with pytest.raises(IntegrityError), transaction.atomic():
        # A response with answers cannot vanish under them either (the ORM would cascade).
        Response.unscoped.filter(pk=stored.pk)._raw_delete(connection.alias)
    assert Answer.objects.for_organization(stored.organization_id).filter(
        response=stored
    ).count() == len(full_answers(customer_link))
    assert stored.submitted_at <= timezone.now()


@pytest.mark.postgres  # prepared statements
@pytest.mark.django_db(transaction=True)
def test_the_write_is_prepared_once_per_connection(customer_link, monkeypatch):
    monkeypatch.setattr(services, "_queue", lambda response: None)
    link = link_resolve(customer_link.token)
    items = respondent_items(link=link, version_id=link.questionnaire.published_version_id)
    data = {name: [value] for name, value in full_answers(link).items()}
    for _ in range(4):
        respondent = Respondent(idempotency_key=uuid.uuid4(), language="en",
                                started_at=timezone.now(), segment={"store": "1"})  # fmt: skip
        assert response_submit(link=link, items=items, data=data, respondent=respondent)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert [s for s in prepared if "json_to_recordset" in s], prepared
    assert Response.objects.for_organization(link.organization_id).count() == 4


def test_a_process_finding_the_window_taken_asks_the_cache_once_until_it_closes(monkeypatch):
    """Another process published this window's task: this one reads when the window closes
    and neither publishes nor asks again until then; after it, it asks again."""
    import time
    from types import SimpleNamespace

    from django.core.cache import cache

    from apps.responses import tasks

    published: list[dict] = []
    monkeypatch.setattr(tasks.process_response, "apply_async", lambda **kw: published.append(kw))
    cache.set("scoring:queued:77", time.time() + 0.8, timeout=1)  # the other process's window
    calls: list[str] = []
    for name in ("add", "get"):
        monkeypatch.setattr(cache, name, _counting(getattr(cache, name), name, calls))
    response = SimpleNamespace(organization_id=77, pk=1)
    for _ in range(5):
        services._queue(response)
    assert calls == ["add", "get"] and not published
    services._QUEUED_AT[77] -= 1  # the other window has closed
    cache.delete("scoring:queued:77")
    services._queue(response)
    assert calls == ["add", "get", "add"] and len(published) == 1


def _counting(method, name, calls):
    def counted(*args, **kwargs):
        calls.append(name)
        return method(*args, **kwargs)

    return counted


@pytest.mark.postgres
def test_the_values_the_write_takes_as_they_are_equal_what_the_fields_would_prepare(
    client, customer_link
):
    hidden = open_form(client, customer_link)
    assert submit(client, customer_link, full_answers(customer_link), hidden).status_code == 302
    stored = Response.objects.for_organization(customer_link.organization_id).get()
    as_is = [f for f, taken in zip(services._RESPONSE_FIELDS, services._RESPONSE_AS_IS,
                                   strict=True) if taken]  # fmt: skip
    assert {f.name for f in as_is} >= {"organization", "idempotency_key", "submitted_at"}
    for f in as_is:
        value = getattr(stored, f.attname)
        assert value == f.get_db_prep_save(value, connection), f.name

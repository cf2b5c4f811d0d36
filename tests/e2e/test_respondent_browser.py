"""A customer answers on a phone, in Finnish, in Debian's Chromium driven by Playwright.

One validation error, then a double tap on "send": exactly one response is stored. Answers of
step 2 survive a reload; a kiosk's thank-you page counts down (with more time on request) to a
fresh, empty form under the pages' real Content-Security-Policy. axe-core checks every
respondent page for serious or critical WCAG 2.x A/AA violations, and each page is kept as a
full-page screenshot in tests/artifacts/respondent/.
"""

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Response as PageResponse

from apps.distribution.demo import demo_links_load
from apps.distribution.services import link_create, link_update
from apps.journeys.demo import demo_journey_load
from apps.responses.models import Answer, Response
from apps.responses.services import field_name
from apps.surveys.models import SCALED_KINDS, Item, ItemKind
from tests.journeys.helpers import principal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules/axe-core/axe.min.js"
ARTIFACTS = ROOT / "tests/artifacts/respondent"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING_IMPACTS = {"serious", "critical"}
PHONE = {"width": 390, "height": 844}
COMMENT = "Asiakaspalvelu oli ystävällistä."
POST_DELAY_SECONDS = 0.4
DOUBLE_TAP_GAP_MS = 120


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between page actions are still plain synchronous ones, so Django may allow them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser) -> Iterator[Page]:
    # bypass_csp: the pages' Content-Security-Policy forbids inline scripts, which is how
    # Playwright injects axe-core; the policy itself is served and tested unchanged.
    context = browser.new_context(
        viewport=PHONE, locale="fi-FI", is_mobile=True, has_touch=True, bypass_csp=True,
        extra_http_headers={"Accept-Language": "fi"},
    )  # fmt: skip
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def slow_server(monkeypatch, live_server):
    """The live server on a slow line: posts take a moment, one request is served at a time.

    Slow, so that a double tap's second tap surely lands while the first post is on its way, as
    on a phone network. One at a time, because on in-memory SQLite the server's threads share
    one database connection and overlapping posts would trip over its lock ("database table is
    locked"), which is not what this test is about: the second post must find the first one's
    response and add nothing. Truly concurrent duplicates are tested on PostgreSQL in
    tests/responses.
    """
    lock = threading.Lock()
    handle = WSGIHandler.__call__

    def slow_one_at_a_time(self, environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            time.sleep(POST_DELAY_SECONDS)
        with lock:
            return handle(self, environ, start_response)

    monkeypatch.setattr(WSGIHandler, "__call__", slow_one_at_a_time)
    return live_server


@pytest.fixture
def links(org, owner, settings) -> dict[str, Any]:
    """The demo journey's published questionnaire with its customer, kiosk and a closed link."""
    settings.RESPONDENT_MIN_SECONDS = 0
    cache.clear()  # fresh rate-limit counters
    demo_journey_load(org, owner)
    web, _employees, kiosk = demo_links_load(org)
    actor = principal(org, owner)
    closed = link_create(organization=org, actor=actor, questionnaire=web.questionnaire,
                         audience="customer", name="Closed")  # fmt: skip
    link_update(organization=org, actor=actor, link=closed, status="closed")
    return {"web": web, "kiosk": kiosk, "closed": closed}


class Weights:
    """Bytes of each page's document, stylesheets and scripts, as the browser received them."""

    def __init__(self, page: Page) -> None:
        self.responses: list[PageResponse] = []
        self.css: dict[str, int] = {}
        self.js: dict[str, int] = {}
        page.on("response", lambda response: self.responses.append(response))

    def of(self, page: Page) -> dict[str, int]:
        here = page.url.split("?")[0]
        document = next(
            r for r in reversed(self.responses)
            if r.request.resource_type == "document" and r.url.split("?")[0] == here
        )  # fmt: skip
        for response in self.responses:
            kind = response.request.resource_type
            if kind == "stylesheet" and response.url not in self.css:
                self.css[response.url] = len(response.body())
            if kind == "script" and response.url not in self.js:
                self.js[response.url] = len(response.body())
        hrefs = page.eval_on_selector_all("link[rel=stylesheet]", "links => links.map(l => l.href)")
        srcs = page.eval_on_selector_all("script[src]", "scripts => scripts.map(s => s.src)")
        sizes = {"document": len(document.body()), "css": sum(self.css[h] for h in hrefs),
                 "js": sum(self.js[s] for s in srcs)}  # fmt: skip
        self.responses.clear()
        return {**sizes, "total": sum(sizes.values())}


def check_page(page: Page, name: str, failures: dict[str, list[str]]) -> None:
    """Screenshot the page, run axe on it and note its serious or critical violations."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if not page.evaluate("typeof axe !== 'undefined'"):  # else injected before the page's CSP
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    violations = result["violations"]
    print(f"axe {name}: {len(result['passes'])} rules pass, violations: "
          f"{json.dumps({v['id']: v['impact'] for v in violations})}")  # fmt: skip
    for violation in violations:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        targets = "; ".join(", ".join(node["target"]) for node in violation["nodes"][:5])
        failures.setdefault(name, []).append(
            f"{violation['id']} ({violation['impact']}): {violation['help']}: {targets}"
        )


def _shown_items(link, used: set[int]) -> tuple[list[Item], list[Item]]:
    items = list(
        Item.objects.for_organization(link.organization_id)
        .filter(version=link.questionnaire.published_version, audience=link.audience)
        .order_by("position", "id")
    )
    screening = [i for i in items if i.kind == ItemKind.SCREENING]
    rest = [
        i for i in items
        if i.kind != ItemKind.SCREENING and (i.touchpoint_id is None or i.touchpoint_id in used)
    ]  # fmt: skip
    return screening, rest


def _answer(item: Item) -> str:
    points = item.scale_points()
    return COMMENT if not points else str(points[len(points) * 2 // 3])


def test_customer_answers_in_finnish_on_a_phone(slow_server, phone, links):
    live_server = slow_server
    page, web, failures = phone, links["web"], {}
    weights = Weights(page)
    url = f"{live_server.url}/s/{web.token}/"

    # Step 1, screening: in Finnish, from the browser's language.
    assert page.goto(url).status == 200
    assert page.get_attribute("html", "lang") == "fi"
    assert page.inner_text("button[value=next]").strip() == "Seuraava"
    screening, _ = _shown_items(web, set())
    assert screening, "the demo questionnaire screens its touchpoints"
    used = {item.touchpoint_id for item in screening[:2]}
    step1_weight = weights.of(page)
    check_page(page, "step1", failures)
    for item in screening:
        used_it = "yes" if item.touchpoint_id in used else "no"
        page.check(f"input[name={field_name(item)}][value={used_it}]")
    page.click("button[value=next]")

    # Step 2: the used touchpoints and the outcomes. Everything answered but one required rating.
    _, questions = _shown_items(web, used)
    page.wait_for_selector("button[value=submit]")
    fields = "[name^=i]:not([type=hidden])"
    shown = set(page.eval_on_selector_all(fields, "fields => fields.map(f => f.name)"))
    assert shown == {field_name(item) for item in questions}
    step2_weight = weights.of(page)
    check_page(page, "step2", failures)
    skipped = next(i for i in questions if i.required and i.kind in SCALED_KINDS)
    expected = {item.pk: _answer(item) for item in questions}
    for item in questions:
        if item is skipped:
            continue
        if item.scale_points():
            page.check(f"input[name={field_name(item)}][value='{expected[item.pk]}']")
        else:
            page.fill(f"textarea[name={field_name(item)}]", expected[item.pk])
    page.click("button[value=submit]")

    # The error stands next to the unanswered question, tied to it; the other answers are kept.
    name = field_name(skipped)
    error = page.locator(f"#{name}-error")
    assert error.inner_text().strip() == "Vastaa tähän kysymykseen."
    group = page.locator(f"fieldset:has(#{name}-first)")
    assert f"{name}-error" in (group.get_attribute("aria-describedby") or "").split()
    assert page.get_attribute(f"#{name}-first", "aria-invalid") == "true"
    assert page.get_attribute("html", "lang") == "fi"
    for item in questions:
        if item is skipped:
            continue
        if item.scale_points():
            assert page.is_checked(f"input[name={field_name(item)}][value='{expected[item.pk]}']")
        else:
            assert page.input_value(f"textarea[name={field_name(item)}]") == expected[item.pk]
    check_page(page, "step2-errors", failures)

    # Fixed, then a double tap on send: two posts of the same form, one response.
    page.check(f"input[name={name}][value='{expected[skipped.pk]}']")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    received: list[str] = []

    def count_posts(sender, environ, **kwargs):
        if environ["REQUEST_METHOD"] == "POST":
            received.append(environ["PATH_INFO"])

    request_started.connect(count_posts)
    try:
        # Two real touch taps on the button, the second while the first post is on its way.
        button = page.locator("button[value=submit]")
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.touchscreen.tap(x, y)
        page.wait_for_timeout(DOUBLE_TAP_GAP_MS)
        page.touchscreen.tap(x, y)
        page.wait_for_selector("text=Kiitos!")
    finally:
        request_started.disconnect(count_posts)
    print(f"double tap: browser sent {len(posts)} POST(s), server received {len(received)}")
    assert received == [f"/s/{web.token}/"] * 2, "both taps reached the server"
    assert page.url == f"{live_server.url}/s/{web.token}/thanks/?lang=fi"
    assert page.inner_text("h1").strip() == "Kiitos!"
    check_page(page, "thanks", failures)

    stored = Response.objects.for_organization(web.organization_id)
    assert stored.count() == 1
    response = stored.get()
    assert response.link_id == web.pk
    assert response.language == "fi"
    stored_answers = Answer.objects.for_organization(web.organization_id).filter(response=response)
    answers = {answer.item_id: answer for answer in stored_answers}
    for item in screening:
        assert answers[item.pk].choices == ["yes" if item.touchpoint_id in used else "no"]
    for item in questions:
        answer = answers[item.pk]
        assert (str(answer.value) if item.scale_points() else answer.text) == expected[item.pk]
    assert len(answers) == len(screening) + len(questions)

    # The other respondent pages: a kiosk's thanks, a closed link, an unknown link.
    kiosk = links["kiosk"]
    assert page.goto(f"{live_server.url}/s/{kiosk.token}/thanks/?lang=fi").status == 200
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # no timed reset (WCAG 2.2.1)
    assert page.locator(f"a.button[href='/s/{kiosk.token}/']").count() == 1
    check_page(page, "kiosk-thanks", failures)
    assert page.goto(f"{live_server.url}/s/{links['closed'].token}/").status == 410
    assert page.get_attribute("html", "lang") == "fi"
    check_page(page, "closed", failures)
    assert page.goto(f"{live_server.url}/s/no-such-link-0000000000000000/").status == 404
    check_page(page, "not-found", failures)

    print(f"page weight step 1: {step1_weight}")
    print(f"page weight step 2: {step2_weight}")
    assert not failures, "axe found serious or critical violations:\n" + "\n".join(
        f"  {page_name}: {line}" for page_name, lines in failures.items() for line in lines
    )


def _answer_step1(page: Page, link, used: set[int]) -> None:
    screening, _ = _shown_items(link, set())
    for item in screening:
        used_it = "yes" if item.touchpoint_id in used else "no"
        page.check(f"input[name={field_name(item)}][value={used_it}]")
    page.click("button[value=next]")
    page.wait_for_selector("button[value=submit]")


def _answer_in(page: Page, item: Item, value: str) -> None:
    if item.scale_points():
        page.check(f"input[name={field_name(item)}][value='{value}']")
    else:
        page.fill(f"textarea[name={field_name(item)}]", value)


def _answered(page: Page, item: Item) -> str:
    """What the page shows as the item's answer ("" for none)."""
    if item.scale_points():
        checked = page.locator(f"input[name={field_name(item)}]:checked")
        return checked.get_attribute("value") or "" if checked.count() else ""
    return page.input_value(f"textarea[name={field_name(item)}]")


def test_step_two_answers_survive_a_reload_and_are_forgotten_once_sent(slow_server, phone, links):
    page, web = phone, links["web"]
    page.goto(f"{slow_server.url}/s/{web.token}/")
    screening, _ = _shown_items(web, set())
    used = {item.touchpoint_id for item in screening[:1]}
    _answer_step1(page, web, used)
    _, questions = _shown_items(web, used)
    typed = {item.pk: _answer(item) for item in questions[:-1]}  # the last one left open
    for item in questions[:-1]:
        _answer_in(page, item, typed[item.pk])

    # A reload posts step 1 again: the server renders step 2 empty, the script fills it back.
    page.reload()
    page.wait_for_selector("button[value=submit]")
    for item in questions:
        assert _answered(page, item) == typed.get(item.pk, ""), item
    # Going back to the screening and on again keeps them too.
    page.click("button[value=back]")
    page.click("button[value=next]")
    page.wait_for_selector("button[value=submit]")
    assert all(_answered(page, item) == typed[item.pk] for item in questions[:-1])

    _answer_in(page, questions[-1], _answer(questions[-1]))
    page.click("button[value=submit]")
    page.wait_for_selector("[data-thanks]")
    assert Response.objects.for_organization(web.organization_id).count() == 1
    stored = page.evaluate(
        "Object.keys(sessionStorage).filter(k => k.startsWith('cx-answers:')).length"
    )
    assert stored == 0, "the answers are forgotten once stored"


def test_kiosk_counts_down_to_a_fresh_empty_form_with_more_time_on_request(
    slow_server, browser, links
):
    kiosk, failures = links["kiosk"], {}
    # The pages' own Content-Security-Policy applies here (no bypass): the script must run
    # under it. axe is injected before each document, where the policy does not reach.
    context = browser.new_context(
        viewport=PHONE, locale="fi-FI", is_mobile=True, has_touch=True,
        extra_http_headers={"Accept-Language": "fi"},
    )  # fmt: skip
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.text} {m.location.get('url')}")
            if m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            else None)  # fmt: skip
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.clock.install()
    form_url = f"{slow_server.url}/s/{kiosk.token}/"
    page.goto(form_url)
    screening, _ = _shown_items(kiosk, set())
    used = {item.touchpoint_id for item in screening[:1]}
    _answer_step1(page, kiosk, used)
    _, questions = _shown_items(kiosk, used)
    for item in questions:
        _answer_in(page, item, _answer(item))
    page.click("button[value=submit]")
    page.wait_for_selector("[data-thanks]")

    # The countdown shows (the script ran under the CSP), announced politely, with more time.
    timer = page.locator("[data-timer]")

    def seconds_left() -> int:
        minutes, seconds = re.search(r"(\d+):(\d\d)", timer.inner_text()).groups()
        return int(minutes) * 60 + int(seconds)

    assert page.locator("[data-kiosk-reset]").is_visible()
    assert 25 <= seconds_left() <= 30  # the fake clock also runs at the real pace
    check_page(page, "kiosk-thanks-countdown", failures)
    page.clock.run_for(12_000)
    assert "0:" in page.locator("[data-status][role=status]").inner_text()  # read out once
    before = seconds_left()
    assert 5 < before <= 18
    page.click("[data-more]")
    extended = seconds_left()
    assert before + 59 <= extended <= before + 60
    assert page.locator("[data-status]").inner_text() == timer.inner_text()  # announced
    page.clock.run_for((extended - 5) * 1000)
    assert page.url.endswith("/thanks/?lang=fi"), "still thanking: the extension held"

    # Time is up: a fresh form, empty, nothing of the previous person kept in the tab.
    page.clock.run_for(10_000)
    page.wait_for_url(form_url)
    page.wait_for_selector("button[value=next]")
    assert page.locator("input:checked").count() == 0
    assert COMMENT not in page.content()
    stored = page.evaluate(
        "Object.keys(sessionStorage).filter(k => k.startsWith('cx-answers:')).length"
    )
    assert stored == 0
    assert page.evaluate("history.length") >= 1
    check_page(page, "kiosk-fresh-form", failures)
    assert Response.objects.for_organization(kiosk.organization_id).count() == 1
    assert not problems, problems
    context.close()

    # Without JavaScript: no countdown, the button to a fresh form.
    plain = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = plain.new_page()
    page.goto(f"{form_url}thanks/?lang=fi")
    assert not page.locator("[data-kiosk-reset]").is_visible()
    assert page.locator("a[data-start]").is_visible()
    plain.close()
    assert not failures, "axe found serious or critical violations:\n" + "\n".join(
        f"  {page_name}: {line}" for page_name, lines in failures.items() for line in lines
    )

"""The contact import preview and the campaign page in Debian's Chromium, at desktop width and
on a 390 px phone: no serious axe-core violations, nothing wider than the screen. Screenshots
go to tests/artifacts/email/."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from apps.distribution import contact_services
from apps.distribution.models import InvitationStatus, SurveyInvitation
from tests.distribution.mail_fixtures import MESSAGES, campaign, contact_list, send
from tests.journeys.helpers import principal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules/axe-core/axe.min.js"
ARTIFACTS = ROOT / "tests/artifacts/email"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

CSV = (
    "Sähköposti;Nimi;Kieli;Asiakassegmentti;Alue;Yritys\r\n"
    "matti.meikalainen@example.com;Matti Meikäläinen;fi;Yritys;Pohjoinen;Rakennus Oy\r\n"
    "anna.andersson@example.com;Anna Andersson;sv;Kuluttaja;Länsi;\r\n"
    "ei-osoite;Virheellinen;fi;Yritys;Etelä;Kauppa Ab\r\n"
    "john.smith@example.co.uk;John Smith;en;Yritys;Etelä;Smith & Sons Ltd\r\n"
    "matti.meikalainen@example.com;Matti Tupla;fi;Yritys;Pohjoinen;\r\n"
)


@pytest.fixture
def browser(monkeypatch) -> Iterator[Browser]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)  # fmt: skip
        yield browser
        browser.close()


def _page(browser: Browser, live_server, user, size: str) -> Page:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=SIZES[size], bypass_csp=True)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])  # fmt: skip
    return context.new_page()


def _check(page: Page, name: str) -> list[str]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    problems = []
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 1:
        problems.append(f"{name}: the page is {overflow}px wider than the screen")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    for violation in result["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = "; ".join(", ".join(n["target"]) for n in violation["nodes"][:5])
            problems.append(f"{name}: {violation['id']}: {violation['help']}: {targets}")
    print(f"axe {name}: {json.dumps({v['id']: v['impact'] for v in result['violations']})}")
    return problems


def test_the_import_preview_and_the_campaign_page_read_well_on_any_screen(
    browser, live_server, org, analyst, admin, questionnaire, settings
):
    settings.DISTRIBUTION_SEND_RATE = 0
    cache.clear()
    people = [
        (f"asiakas{i}@example.com", f"Asiakas {i}", "fi", {"region": "North" if i % 3 else "South"})
        for i in range(40)
    ]
    target = contact_list(org, analyst, name="Asiakkaat 2026", people=people)
    pending = contact_services.contact_import_upload(
        organization=org, actor=principal(org, analyst), contact_list=target,
        file_name="asiakkaat-kevät.csv", content=CSV.encode("cp1252"),
    )  # fmt: skip
    created = campaign(org, analyst, questionnaire, target, name="Spring customer survey",
                       reminder_after_days=4, reminder_max=2, **MESSAGES)  # fmt: skip
    send(org, analyst, created)  # on commit: started in this (eager) process
    rows = SurveyInvitation.objects.for_organization(org).filter(campaign=created)
    some = list(rows.order_by("pk").values_list("pk", flat=True))
    rows.filter(pk__in=some[:11]).update(status=InvitationStatus.RESPONDED)
    rows.filter(pk__in=some[11:13]).update(status=InvitationStatus.OPTED_OUT)
    rows.filter(pk=some[13]).update(status=InvitationStatus.UNCERTAIN,
                                    error="The worker stopped during the hand-off.")  # fmt: skip
    rows.filter(pk=some[14]).update(
        status=InvitationStatus.FAILED, error="SMTPRecipientsRefused: 550 5.1.1 No such user"
    )

    problems = []
    for size in SIZES:
        page = _page(browser, live_server, analyst, size)
        assert page.goto(f"{live_server.url}/o/acme/contacts/imports/{pending.pk}/").ok
        assert "Matti Meikäläinen" in page.content()
        problems += _check(page, f"import-preview-{size}")
        assert page.goto(f"{live_server.url}/o/acme/campaigns/{created.pk}/preview/").ok
        problems += _check(page, f"campaign-preview-{size}")
        admin_page = _page(browser, live_server, admin, size)
        assert admin_page.goto(f"{live_server.url}/o/acme/campaigns/{created.pk}/").ok
        assert "Uncertain deliveries" in admin_page.content()
        problems += _check(admin_page, f"campaign-{size}")
    assert not problems, "\n".join(problems)

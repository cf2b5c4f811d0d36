"""English and Finnish from day one: the switcher works and every string is translated."""

from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "fi" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")

pytestmark = pytest.mark.django_db


def test_home_in_english_by_default(client):
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="en"' in response.text
    assert "Where do you fail customers without knowing it?" in response.text


def test_home_in_finnish_from_browser_language(client):
    response = client.get("/", headers={"Accept-Language": "fi-FI,fi;q=0.9"})
    assert '<html lang="fi"' in response.text
    assert "Missä petätte asiakkaanne tietämättänne?" in response.text
    assert "Kirjaudu sisään" in response.text


def test_language_switcher_sets_the_language(client):
    response = client.post("/i18n/setlang/", {"language": "fi", "next": "/"}, follow=True)
    assert response.status_code == 200
    assert '<html lang="fi"' in response.text


def test_login_page_uses_the_app_layout_in_finnish(client):
    response = client.get("/accounts/login/", headers={"Accept-Language": "fi"})
    assert response.status_code == 200
    assert 'class="site-header' in response.text
    assert "Kirjaudu sisään" in response.text


def test_every_finnish_message_is_translated_and_compiled():
    po = polib.pofile(str(PO))
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert not untranslated, f"untranslated: {untranslated}"
    assert not fuzzy, f"fuzzy: {fuzzy}"
    compiled = {(e.msgctxt, e.msgid): e.msgstr for e in polib.mofile(str(MO))}
    source = {(e.msgctxt, e.msgid): e.msgstr for e in po.translated_entries()}
    assert compiled == source, "django.mo is stale: run `make messages`"

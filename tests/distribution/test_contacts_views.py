"""The contact pages: lists, people by hand (add, edit, delete, search), the import steps in
the browser's order (upload, mapping with preview, progress, report), and who may see what."""

import pytest

from apps.distribution.models import ContactImport, ContactList, ImportStatus
from tests.distribution.mail_fixtures import contact_list, contacts_of
from tests.journeys.helpers import principal  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst_client(analyst):
    from django.test import Client

    client = Client()
    client.force_login(analyst)
    return client


def test_an_analyst_creates_a_list_and_manages_people(analyst_client, org, analyst):
    created = analyst_client.post("/o/acme/contacts/", {"name": "Key accounts",
                                                        "audience": "customer"})  # fmt: skip
    assert created.status_code == 302
    target = ContactList.objects.for_organization(org).get()
    url = f"/o/acme/contacts/{target.pk}/"
    liisa = {"email": " Liisa@Example.com ", "name": "Liisa", "language": "fi",
             "attributes": "region=North\nteam=A"}  # fmt: skip
    added = analyst_client.post(url, liisa)
    assert added.status_code == 302
    liisa = contacts_of(target).get()
    assert (liisa.email, liisa.attributes) == ("liisa@example.com", {"region": "North",
                                                                     "team": "A"})  # fmt: skip
    duplicate = analyst_client.post(url, {"email": "liisa@example.com"})
    assert duplicate.status_code == 400 and "already on the list" in duplicate.content.decode()
    bad = analyst_client.post(url, {"email": "nope", "attributes": "Bad Name=x"})
    assert bad.status_code == 400 and "valid email" in bad.content.decode()
    analyst_client.post(url, {"email": "pekka@example.com", "name": "Pekka"})
    analyst_client.get(url)  # shows (and clears) the "added" message
    found = analyst_client.get(url, {"q": "north"}).content.decode()
    assert "liisa@example.com" in found and "pekka@example.com" not in found
    edited = analyst_client.post(f"/o/acme/contacts/people/{liisa.pk}/",
                                 {"email": "liisa@example.com", "name": "Liisa K",
                                  "attributes": "region=South"})  # fmt: skip
    assert edited.status_code == 302
    liisa.refresh_from_db()
    assert liisa.name == "Liisa K" and liisa.attributes == {"region": "South"}
    assert analyst_client.post(f"/o/acme/contacts/people/{liisa.pk}/delete/").status_code == 302
    assert list(contacts_of(target).values_list("email", flat=True)) == ["pekka@example.com"]
    assert analyst_client.post(f"/o/acme/contacts/{target.pk}/delete/").status_code == 302
    assert not ContactList.objects.for_organization(org).exists()


def test_importing_through_the_pages(analyst_client, org, analyst,
                                     django_capture_on_commit_callbacks):  # fmt: skip
    from django.core.files.uploadedfile import SimpleUploadedFile

    target = contact_list(org, analyst)
    content = "Sähköposti;Nimi;Alue\r\nmatti@example.com;Matti Äijälä;Pohjoinen\r\nrikki;X;Y\r\n"
    upload = SimpleUploadedFile("asiakkaat.csv", content.encode("cp1252"), "text/csv")
    response = analyst_client.post(f"/o/acme/contacts/{target.pk}/import/", {"file": upload})
    assert response.status_code == 302
    pending = ContactImport.objects.for_organization(org).get()
    page = analyst_client.get(response["Location"]).content.decode()
    assert "WINDOWS-1252" in page and "semicolons" in page
    assert "Matti Äijälä" in page and "is not a valid email address" in page  # the preview
    # Without the email column: refused, nothing starts.
    refused = analyst_client.post(response["Location"], {"col_0": "", "col_1": "name",
                                                         "col_2": "attr:alue",
                                                         "action": "import"})  # fmt: skip
    assert refused.status_code == 400 and "email addresses" in refused.content.decode()
    pending.refresh_from_db()
    assert pending.status == ImportStatus.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        mapping = {"col_0": "email", "col_1": "name", "col_2": "attr:alue", "action": "import"}
        started = analyst_client.post(response["Location"], mapping)
    assert started.status_code == 302
    report = analyst_client.get(started["Location"]).content.decode()
    assert "rows rejected" in report and "rikki" in report
    assert contacts_of(target).get().attributes == {"alue": "Pohjoinen"}


def test_a_running_import_shows_progress_and_refreshes_itself(analyst_client, org, analyst):
    target = contact_list(org, analyst)
    running = ContactImport.objects.create(
        organization=org, contact_list=target, file_name="big.csv", file_format="csv",
        encoding="utf-8", delimiter=",", columns=["email"], status=ImportStatus.RUNNING,
        total_rows=100_000, processed_rows=25_000,
    )  # fmt: skip
    page = analyst_client.get(f"/o/acme/contacts/imports/{running.pk}/").content.decode()
    assert '<meta http-equiv="refresh" content="2">' in page
    assert 'value="25"' in page and "25000 of 100000 rows" in page


def test_a_bad_upload_shows_the_reason_next_to_the_file(analyst_client, org, analyst):
    from django.core.files.uploadedfile import SimpleUploadedFile

    target = contact_list(org, analyst)
    upload = SimpleUploadedFile("x.csv", b"\x00\x01\x02binary", "text/csv")
    response = analyst_client.post(f"/o/acme/contacts/{target.pk}/import/", {"file": upload})
    assert response.status_code == 400
    assert "not a CSV or XLSX file" in response.content.decode()
    assert not ContactImport.objects.for_organization(org).exists()


def test_viewers_see_no_contacts_and_only_admins_the_suppression_list(
    viewer_client, analyst_client, admin_client_, org, analyst
):
    target = contact_list(org, analyst, people=[("a@example.com",)])
    assert viewer_client.get("/o/acme/contacts/").status_code == 403
    assert viewer_client.get(f"/o/acme/contacts/{target.pk}/").status_code == 403
    assert viewer_client.get(f"/o/acme/contacts/{target.pk}/export.csv").status_code == 403
    assert analyst_client.get("/o/acme/contacts/suppressions/").status_code == 403
    assert admin_client_.get("/o/acme/contacts/suppressions/").status_code == 200
    nav = analyst_client.get("/o/acme/contacts/").content.decode()
    assert 'href="/o/acme/contacts/"' in nav and 'href="/o/acme/campaigns/"' in nav
    assert "Suppression list" not in nav
    assert "Suppression list" in admin_client_.get("/o/acme/contacts/").content.decode()


def test_another_organisations_list_is_not_found(stranger_client, org, analyst):
    target = contact_list(org, analyst, people=[("a@example.com",)])
    assert stranger_client.get(f"/o/acme/contacts/{target.pk}/").status_code == 404
    assert stranger_client.get(f"/o/rival/contacts/{target.pk}/").status_code == 404

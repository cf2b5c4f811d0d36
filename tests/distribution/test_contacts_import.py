"""Importing contact files as people really produce them: encodings, separators, XLSX, a
report of rejected rows, the column mapping, and files that cannot be read at all."""

import codecs
import io

import openpyxl
import pytest

from apps.audit.models import AuditEntry
from apps.core.errors import ValidationFailed
from apps.distribution import contact_imports, contact_services
from apps.distribution.models import ContactImport, ImportStatus
from tests.distribution.mail_fixtures import contact_list, contacts_of
from tests.journeys.helpers import principal

pytestmark = pytest.mark.django_db

ROWS_OK = [
    ["Sähköposti", "Nimi", "Kieli", "Segmentti", "Region"],
    ["matti.meikalainen@example.com", "Matti Meikäläinen", "fi", "Yritys", "Pohjoinen"],
    ["asa@example.com", "Åsa Öberg", "", "Kuluttaja", "Länsi"],
    ["jose@example.com", "José Müller", "EN", "Yritys", "Etelä"],
]


def csv_bytes(rows, encoding="utf-8", delimiter=";", bom=False) -> bytes:
    text = "\r\n".join(delimiter.join(_quote(c, delimiter) for c in row) for row in rows) + "\r\n"
    data = text.encode(encoding)
    return (codecs.BOM_UTF8 + data) if bom else data


def _quote(cell, delimiter):
    return f'"{cell}"' if delimiter in cell or '"' in cell else cell


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(org, user, target, content, name="contacts.csv"):
    return contact_services.contact_import_upload(
        organization=org, actor=principal(org, user), contact_list=target, file_name=name,
        content=content,
    )  # fmt: skip


def import_file(org, user, target, content, capture, name="contacts.csv", mapping=None):
    pending = upload(org, user, target, content, name)
    with capture(execute=True):
        contact_services.contact_import_start(
            organization=org, actor=principal(org, user), contact_import=pending,
            mapping=mapping or pending.mapping,
        )  # fmt: skip
    pending.refresh_from_db()
    return pending


@pytest.mark.parametrize(
    ("content", "encoding", "delimiter"),
    [
        (csv_bytes(ROWS_OK, "utf-8", ";", bom=True), "utf-8-sig", ";"),
        (csv_bytes(ROWS_OK, "utf-8", ","), "utf-8", ","),
        (csv_bytes(ROWS_OK, "cp1252", ";"), "windows-1252", ";"),
        (csv_bytes(ROWS_OK, "cp1252", ","), "windows-1252", ","),
        ("\ufeff".encode("utf-16-le")[:0] + csv_bytes(ROWS_OK, "utf-16", "\t"), "utf-16", "\t"),
    ],
    ids=["utf8-bom-semicolon", "utf8-comma", "cp1252-semicolon", "cp1252-comma", "utf16-tab"],
)
def test_csv_in_the_encodings_and_separators_people_use(
    org, analyst, content, encoding, delimiter, django_capture_on_commit_callbacks
):
    target = contact_list(org, analyst)
    done = import_file(org, analyst, target, content, django_capture_on_commit_callbacks)
    assert (done.encoding, done.delimiter) == (encoding, delimiter)
    assert done.status == ImportStatus.DONE and done.created_rows == 3 and not done.rejected_rows
    matti = contacts_of(target).get(email="matti.meikalainen@example.com")
    assert matti.name == "Matti Meikäläinen" and matti.language == "fi"
    assert matti.attributes == {"segmentti": "Yritys", "region": "Pohjoinen"}
    assert contacts_of(target).get(email="asa@example.com").attributes["region"] == "Länsi"
    target.refresh_from_db()
    assert target.attribute_names == ["segmentti", "region"]


def test_an_xlsx_workbook(org, analyst, django_capture_on_commit_callbacks):
    target = contact_list(org, analyst)
    rows = [ROWS_OK[0], *ROWS_OK[1:], ["n@example.com", "Numero", "fi", 12345, 7.0]]
    done = import_file(org, analyst, target, xlsx_bytes(rows), django_capture_on_commit_callbacks,
                       name="contacts.xlsx")  # fmt: skip
    assert done.file_format == "xlsx" and done.status == ImportStatus.DONE
    assert done.created_rows == 4
    numbers = contacts_of(target).get(email="n@example.com")
    assert numbers.attributes == {"segmentti": "12345", "region": "7"}


def test_bad_rows_are_reported_and_good_rows_imported(
    org, analyst, django_capture_on_commit_callbacks
):
    target = contact_list(org, analyst)
    rows = [
        ["email", "name", "language", "region"],
        ["good@example.com", "Good", "en", "North"],  # row 2
        ["", "No Address", "en", "North"],  # row 3
        ["not-an-email", "Bad", "en", "North"],  # row 4
        ["GOOD@example.com", "Duplicate", "en", "North"],  # row 5
        ["de@example.com", "Deutsch", "de", "North"],  # row 6
        ["long@example.com", "Long", "en", "x" * 101],  # row 7
        ["", "", "", ""],  # row 8: blank, skipped
        ["ok@example.com", "=cmd|' /C calc'!A0", "", '=HYPERLINK("http://x")'],  # row 9
    ]
    done = import_file(org, analyst, target, csv_bytes(rows, delimiter=","),
                       django_capture_on_commit_callbacks)  # fmt: skip
    assert (done.created_rows, done.rejected_rows, done.total_rows) == (3, 4, 7)
    reasons = {row: reason for row, reason, _value in done.rejected}
    assert reasons == {
        3: "The email address is missing.",
        4: "'not-an-email' is not a valid email address.",
        5: "Duplicate of row 2.",
        7: "The value of 'region' is longer than 100 characters.",
    }
    assert sorted(contacts_of(target).values_list("email", flat=True)) == [
        "de@example.com", "good@example.com", "ok@example.com"]  # fmt: skip
    # A language not on offer: kept, without a language (the campaign's default is used).
    assert contacts_of(target).get(email="de@example.com").language == ""
    audit = AuditEntry.objects.for_organization(org).get(action="contacts.imported")
    assert audit.data["created"] == 3 and audit.data["rejected"] == 4
    assert not bytes(done.content)  # the file is not kept once imported


def test_exports_never_carry_a_live_formula(org, analyst, admin_client_, client,
                                            django_capture_on_commit_callbacks):  # fmt: skip
    target = contact_list(org, analyst)
    rows = [["email", "name", "region"],
            ["ok@example.com", "=cmd|' /C calc'!A0", "+SUM(1,2)"],
            ["=2+3", "@evil", "-1"]]  # fmt: skip
    done = import_file(org, analyst, target, csv_bytes(rows, delimiter=","),
                       django_capture_on_commit_callbacks)  # fmt: skip
    export = admin_client_.get(f"/o/acme/contacts/{target.pk}/export.csv").content.decode()
    assert "'=cmd|' /C calc'!A0" in export and "'+SUM(1,2)" in export
    assert "\n=cmd" not in export and ",=cmd" not in export
    rejected = admin_client_.get(f"/o/acme/contacts/imports/{done.pk}/rejected.csv")
    body = rejected.content.decode()
    assert "'=2+3" in body and ",=2+3" not in body
    assert contact_imports.spreadsheet_safe("@evil") == "'@evil"
    assert contact_imports.spreadsheet_safe("Plain") == "Plain"


def test_reimport_updates_known_people_and_merges_attributes(
    org, analyst, django_capture_on_commit_callbacks
):
    target = contact_list(org, analyst, people=[("a@example.com", "Old", "en", {"team": "A"})])
    rows = [["email", "name", "region"], ["A@example.com", "New", "North"],
            ["b@example.com", "Bee", "South"]]  # fmt: skip
    done = import_file(org, analyst, target, csv_bytes(rows, delimiter=","),
                       django_capture_on_commit_callbacks)  # fmt: skip
    assert (done.created_rows, done.updated_rows) == (1, 1)
    a = contacts_of(target).get(email="a@example.com")
    assert a.name == "New" and a.language == "en"  # language was not in the file: kept
    assert a.attributes == {"team": "A", "region": "North"}


def test_a_large_file_is_imported_in_chunks_with_progress(
    org, analyst, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(contact_services, "IMPORT_CHUNK", 500)
    seen = []
    original = contact_services._upsert

    def watching(*args, **kwargs):
        current = ContactImport.objects.for_organization(org).get()
        seen.append((current.status, current.processed_rows, current.total_rows))
        return original(*args, **kwargs)

    monkeypatch.setattr(contact_services, "_upsert", watching)
    rows = [["email", "segment"]] + [[f"p{i}@example.com", f"s{i % 7}"] for i in range(3000)]
    target = contact_list(org, analyst)
    done = import_file(org, analyst, target, csv_bytes(rows, delimiter=","),
                       django_capture_on_commit_callbacks)  # fmt: skip
    assert done.created_rows == 3000 and done.percent == 100
    assert seen[0] == ("running", 0, 3000)
    assert [processed for _status, processed, _total in seen] == list(range(0, 3000, 500))
    assert contacts_of(target).count() == 3000


# --- bad input: clear errors naming the field, nothing kept -----------------------------------


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "contacts.csv", "The file is empty."),
        (b"   \r\n\r\n", "contacts.csv", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", "not a CSV or XLSX file"),
        (b"PK\x03\x04broken zip", "contacts.xlsx", "XLSX file cannot be opened"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "old.xls", "Old Excel files"),
        ("email\nä@example.com\n".encode()[:-5] + b"\x81\x8d\x8f\xff\n", "x.csv",
         "encoding is not UTF-8 or Windows-1252"),
        (codecs.BOM_UTF8 + b"email\n\xff\xfe\n", "x.csv", "says it is UTF-8 but is not"),
    ],
    ids=["empty", "blank", "binary", "broken-xlsx", "xls", "unknown-encoding", "false-bom"],
)  # fmt: skip
def test_files_that_cannot_be_read_are_refused(org, analyst, content, name, message):
    target = contact_list(org, analyst)
    with pytest.raises(ValidationFailed) as caught:
        upload(org, analyst, target, content, name)
    assert message in caught.value.fields["file"][0]
    assert not ContactImport.objects.for_organization(org).exists()


def test_a_mapping_without_the_email_column_is_refused_and_nothing_starts(org, analyst):
    target = contact_list(org, analyst)
    pending = upload(org, analyst, target, csv_bytes(ROWS_OK))
    with pytest.raises(ValidationFailed) as caught:
        contact_services.contact_import_start(
            organization=org, actor=principal(org, analyst), contact_import=pending,
            mapping={"1": "name", "3": "attr:segment"},
        )  # fmt: skip
    assert "email addresses" in caught.value.fields["mapping"][0]
    pending.refresh_from_db()
    assert pending.status == ImportStatus.PENDING and not contacts_of(target).exists()
    with pytest.raises(ValidationFailed) as caught:
        contact_services.contact_import_start(
            organization=org, actor=principal(org, analyst), contact_import=pending,
            mapping={"0": "email", "1": "email", "2": "attr:Bad Name", "9": "name"},
        )  # fmt: skip
    fields = caught.value.fields
    assert "col_1" in fields and "col_2" in fields and "mapping" in fields


def test_a_quote_left_open_fails_the_whole_file_with_nothing_imported(
    org, analyst, django_capture_on_commit_callbacks
):
    target = contact_list(org, analyst)
    content = (
        b"email,name\nok@example.com,Fine\n" + b'x@example.com,"never closed\n' + (b"y" * 140_000)
    )
    done = import_file(org, analyst, target, content, django_capture_on_commit_callbacks)
    assert done.status == ImportStatus.FAILED and "Row" in done.error
    assert not contacts_of(target).exists()


def test_column_guesses_and_sniffing():
    assert contact_imports.guess_mapping(("E-mail", "Full name", "Kieli", "Customer segment",
                                          "")) == {
        "0": "email", "1": "name", "2": "language", "3": "attr:customer_segment"}  # fmt: skip
    shape = contact_imports.sniff(b'email;name\n"a@x.fi";"Doe, Jane"\n', "x.csv")
    assert shape.delimiter == ";" and shape.columns == ("email", "name")
    single = contact_imports.sniff(b"email\na@x.fi\n", "x.csv")
    assert single.columns == ("email",)

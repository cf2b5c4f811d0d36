"""Reading contact files as people really produce them, and judging each row.

CSV in UTF-8 (with or without the BOM Excel writes), Windows-1252 (Excel's "CSV" on Western
Windows) or UTF-16 (Excel's "Unicode text"), separated by `;`, `,`, tab or `|` (sniffed), and
XLSX. The first row names the columns. Nothing here touches the database: the services decide
what to store.
"""

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils.text import slugify
from django.utils.translation import gettext as _

from apps.core.errors import ValidationFailed

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 60
MAX_VALUE_LENGTH = 200
PREVIEW_ROWS = 10
DELIMITERS = (";", ",", "\t", "|")
SNIFF_BYTES = 64 * 1024

EMAIL, NAME, LANGUAGE, ATTRIBUTE_PREFIX = "email", "name", "language", "attr:"
RESERVED_ATTRIBUTES = {"email", "name", "language", "lang", "link", "organization", "survey"}
ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

_HEADER_GUESSES = {
    EMAIL: {"email", "e-mail", "e_mail", "emailaddress", "email address", "mail", "sahkoposti",
            "sähköposti", "s-posti", "sposti", "sähköpostiosoite", "e-mail address"},
    NAME: {"name", "full name", "fullname", "nimi", "koko nimi", "contact", "contact name"},
    LANGUAGE: {"language", "lang", "locale", "kieli", "asiointikieli"},
}  # fmt: skip


def _file_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={"file": [message]})


@dataclass(frozen=True)
class FileShape:
    """What sniffing found: how to read the rest of the file."""

    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    columns: tuple[str, ...] = ()


# --- reading ------------------------------------------------------------------------------------


def _decode(content: bytes) -> tuple[str, str]:
    """The text and the encoding's name; a clear error for anything that is not text."""
    if content.startswith(codecs.BOM_UTF8):
        try:
            return content[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _file_error(
                _("The file says it is UTF-8 but is not: save it again as CSV UTF-8.")
            ) from exc
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return content.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _file_error(_("The file is damaged: save it again as CSV UTF-8.")) from exc
    if b"\x00" in content[:SNIFF_BYTES]:
        raise _file_error(_("This is not a CSV or XLSX file: save the sheet as CSV or XLSX."))
    try:
        return content.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as exc:
        raise _file_error(
            _("The file's encoding is not UTF-8 or Windows-1252: save it again as CSV UTF-8.")
        ) from exc


def _sniff_delimiter(text: str) -> str:
    """The separator that splits the first lines into the most, and most consistent, columns."""
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (0, 0.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistent = sum(1 for row in rows if len(row) == width) / len(rows)
        score = (1, round(consistent, 2), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_rows(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            yield [cell.strip() for cell in row]
    except csv.Error as exc:
        raise _file_error(
            _("Row %(row)s cannot be read (%(error)s): check its quotes.")
            % {"row": reader.line_num, "error": exc}
        ) from exc


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _xlsx_rows(content: bytes) -> Iterator[list[str]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise _file_error(_("The XLSX file cannot be opened: save it again from Excel.")) from exc
    try:
        if not workbook.worksheets:
            return
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            row = [_cell(v) for v in values]
            while row and row[-1] == "":
                row.pop()
            yield row
    finally:
        workbook.close()


def _is_xlsx(content: bytes, file_name: str) -> bool:
    return content[:4] == b"PK\x03\x04" or file_name.lower().endswith((".xlsx", ".xlsm"))


def sniff(content: bytes, file_name: str) -> FileShape:
    """Find the format, encoding, separator and header of an uploaded file, or refuse it."""
    if not content.strip():
        raise _file_error(_("The file is empty."))
    if len(content) > MAX_FILE_BYTES:
        raise _file_error(
            _("The file is larger than %(mb)s MB: split it into smaller files.")
            % {"mb": MAX_FILE_BYTES // (1024 * 1024)}
        )
    if content[:4] == b"\xd0\xcf\x11\xe0" or file_name.lower().endswith(".xls"):
        raise _file_error(
            _("Old Excel files (.xls) cannot be read: save the sheet as XLSX or CSV.")
        )
    if _is_xlsx(content, file_name):
        shape = FileShape(file_format="xlsx")
        header = next((row for row in _xlsx_rows(content) if any(row)), None)
    else:
        text, encoding = _decode(content)
        shape = FileShape(file_format="csv", encoding=encoding, delimiter=_sniff_delimiter(text))
        header = next((row for row in _csv_rows(text, shape.delimiter) if any(row)), None)
    if header is None:
        raise _file_error(_("The file has no rows."))
    if len(header) > MAX_COLUMNS:
        raise _file_error(
            _("The file has more than %(max)s columns: keep only the ones to import.")
            % {"max": MAX_COLUMNS}
        )
    return FileShape(shape.file_format, shape.encoding, shape.delimiter, tuple(header))


def read_rows(content: bytes, shape: FileShape) -> Iterator[tuple[int, list[str]]]:
    """(row number as the spreadsheet shows it, cells) of each data row after the header.

    Blank rows are skipped. Raises ValidationFailed (field `file`) on a row that cannot be read
    or past MAX_ROWS rows.
    """
    if shape.file_format == "xlsx":
        rows: Iterator[list[str]] = _xlsx_rows(content)
    else:
        text = content.decode(shape.encoding.replace("windows-1252", "cp1252"))
        if text.startswith("\ufeff"):
            text = text[1:]
        rows = _csv_rows(text, shape.delimiter)
    header_seen = False
    data_rows = 0
    for number, row in enumerate(rows, start=1):
        if not any(row):
            continue
        if not header_seen:
            header_seen = True
            continue
        data_rows += 1
        if data_rows > MAX_ROWS:
            raise _file_error(
                _("The file has more than %(max)s rows: split it into smaller files.")
                % {"max": MAX_ROWS}
            )
        yield number, row


# --- the column mapping ---------------------------------------------------------------------


def attribute_name_for(header: str) -> str:
    """A header as an attribute name ("Customer segment" -> customer_segment), or ""."""
    name = slugify(header).replace("-", "_")[:40].strip("_")
    if name and name[0].isdigit():
        name = f"c_{name}"[:40]
    return name if ATTRIBUTE_NAME.fullmatch(name) and name not in RESERVED_ATTRIBUTES else ""


def guess_mapping(columns: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Column index -> target, from the header names; unknown names become attributes."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(columns):
        key = " ".join(header.lower().replace("_", " ").split())
        target = next((t for t, names in _HEADER_GUESSES.items() if key in names), None)
        if target is None:
            name = attribute_name_for(header)
            target = f"{ATTRIBUTE_PREFIX}{name}" if name else ""
        if target and target not in taken:
            mapping[str(index)] = target
            taken.add(target)
    return mapping


@dataclass(frozen=True)
class Mapping:
    email: int
    name: int | None = None
    language: int | None = None
    attributes: tuple[tuple[str, int], ...] = ()

    @property
    def attribute_names(self) -> list[str]:
        return [name for name, _index in self.attributes]


def mapping_clean(raw: dict[str, str], columns: tuple[str, ...] | list[str]) -> Mapping:
    """Check a column mapping; errors name the column (`col_<index>`) and `mapping`."""
    errors: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    email = name = language = None
    attributes: list[tuple[str, int]] = []
    for key, target in sorted(raw.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else -1):
        target = (target or "").strip()
        if not target:
            continue
        if not key.isdigit() or int(key) >= len(columns):
            errors.setdefault("mapping", []).append(_("Unknown column %(key)s.") % {"key": key})
            continue
        index = int(key)
        if target.startswith(ATTRIBUTE_PREFIX):
            attribute = target[len(ATTRIBUTE_PREFIX) :]
            if not ATTRIBUTE_NAME.fullmatch(attribute) or attribute in RESERVED_ATTRIBUTES:
                errors[f"col_{index}"] = [
                    _("'%(name)s' cannot be an attribute name: use lowercase letters, digits "
                      "and _ (such as region).") % {"name": attribute}
                ]  # fmt: skip
                continue
        elif target not in (EMAIL, NAME, LANGUAGE):
            errors[f"col_{index}"] = [_("Unknown choice.")]
            continue
        if target in seen:
            errors[f"col_{index}"] = [
                _("Column %(other)s is already imported as this.") % {"other": seen[target] + 1}
            ]
            continue
        seen[target] = index
        if target == EMAIL:
            email = index
        elif target == NAME:
            name = index
        elif target == LANGUAGE:
            language = index
        else:
            attributes.append((target[len(ATTRIBUTE_PREFIX) :], index))
    if email is None:
        errors.setdefault("mapping", []).insert(
            0, _("Choose the column that holds the email addresses.")
        )
    if errors:
        raise ValidationFailed(
            errors.get("mapping", [_("Check the column choices.")])[0], fields=errors
        )
    assert email is not None
    return Mapping(email=email, name=name, language=language, attributes=tuple(attributes))


# --- judging rows -------------------------------------------------------------------------------


def language_clean(value: str) -> str | None:
    """ "fi", "FI", "fi-FI", "fi_FI" -> "fi"; "" -> ""; a language not on offer -> None."""
    value = value.strip().lower().replace("_", "-")
    if not value:
        return ""
    code = value.split("-")[0]
    return code if code in dict(settings.LANGUAGES) else None


def email_clean(value: str) -> str | None:
    value = value.strip().lower()
    if not value or len(value) > 254:
        return None
    try:
        validate_email(value)
    except DjangoValidationError:
        return None
    return value


@dataclass
class ContactRow:
    row: int
    email: str
    name: str = ""
    language: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


def _get(cells: list[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def row_judge(
    number: int, cells: list[str], mapping: Mapping, seen: dict[str, int]
) -> tuple[ContactRow | None, str]:
    """The row as a contact, or None and the reason it is rejected. `seen` maps the addresses
    of earlier rows to their row numbers (duplicates within the file are rejected)."""
    raw_email = _get(cells, mapping.email)
    if not raw_email:
        return None, _("The email address is missing.")
    email = email_clean(raw_email)
    if email is None:
        return None, _("'%(value)s' is not a valid email address.") % {"value": raw_email[:100]}
    if email in seen:
        return None, _("Duplicate of row %(row)s.") % {"row": seen[email]}
    # A language the platform does not offer (sv, de...) is not a reason to lose the person:
    # they get the campaign's default language.
    language = language_clean(_get(cells, mapping.language)) or ""
    name = _get(cells, mapping.name)
    if len(name) > MAX_VALUE_LENGTH:
        return None, _("The name is longer than %(max)s characters.") % {"max": MAX_VALUE_LENGTH}
    attributes = {}
    for attribute, index in mapping.attributes:
        value = _get(cells, index)
        if len(value) > 100:
            return None, _("The value of '%(name)s' is longer than 100 characters.") % {
                "name": attribute
            }
        if value:
            attributes[attribute] = value
    seen[email] = number
    return ContactRow(number, email, name, language, attributes), ""


# --- exports --------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs: `=cmd|...` becomes `'=cmd|...`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_export(header: list[str], rows: Iterator[list[object]] | list[list[object]]) -> str:
    """CSV (UTF-8 with BOM, so Excel reads it) with every cell made formula-safe."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(h) for h in header])
    for row in rows:
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return out.getvalue()

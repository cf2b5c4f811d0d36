"""Forms for contact lists, contacts, imports and the suppression list (they parse; the
services validate)."""

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from apps.surveys.models import Audience

from . import contact_imports as files


def parse_attributes(text: str) -> dict[str, str]:
    attributes = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise forms.ValidationError(_("Write each line as name=value."))
        attributes[name.strip().lower()] = value.strip()
    return attributes


def attributes_text(attributes: dict[str, Any]) -> str:
    return "\n".join(f"{name}={value}" for name, value in attributes.items())


class ContactListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    audience = forms.ChoiceField(label=_("Who they are"), choices=Audience.choices)


def language_choices() -> list[tuple[str, Any]]:
    return [("", _("Not known")), *settings.LANGUAGES]


class ContactForm(forms.Form):
    email = forms.CharField(label=_("Email address"), max_length=254)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=language_choices, required=False)
    attributes = forms.CharField(
        label=_("Attributes"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line, such as region=North. They become the segment of the "
                    "person's answers."),
    )  # fmt: skip

    def clean_attributes(self) -> dict[str, str]:
        return parse_attributes(self.cleaned_data.get("attributes") or "")


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("The first row names the columns; one column holds the email addresses."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx,text/csv"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > files.MAX_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)s MB: split it into smaller files.")
                % {"mb": files.MAX_FILE_BYTES // (1024 * 1024)}
            )
        return upload


def _column_choices(index: int, header: str) -> list[tuple[str, str]]:
    attribute = files.attribute_name_for(header) or f"column_{index + 1}"
    return [
        ("", str(_("Do not import"))),
        (files.EMAIL, str(_("Email address"))),
        (files.NAME, str(_("Name"))),
        (files.LANGUAGE, str(_("Language"))),
        (
            f"{files.ATTRIBUTE_PREFIX}{attribute}",
            str(_("Attribute: %(name)s") % {"name": attribute}),
        ),
    ]


class MappingForm(forms.Form):
    """One choice per column of the file: what it holds."""

    def __init__(self, *args: Any, columns: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        for index, header in enumerate(columns):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header or _("Column %(n)s") % {"n": index + 1},
                choices=_column_choices(index, header), required=False,
            )  # fmt: skip

    def mapping(self) -> dict[str, str]:
        return {
            str(index): self.cleaned_data.get(f"col_{index}") or ""
            for index in range(len(self.columns))
        }


def mapping_initial(mapping: dict[str, str], columns: list[str]) -> dict[str, str]:
    return {f"col_{index}": mapping.get(str(index), "") for index in range(len(columns))}


class SuppressionForm(forms.Form):
    email = forms.CharField(label=_("Email address"), max_length=254)

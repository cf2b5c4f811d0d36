"""Forms for questionnaire pages: texts per language are one field per language."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CUSTOM_KINDS, Audience, Dimension, Item, ItemKind


class GenerateForm(forms.Form):
    scale_lo = forms.IntegerField(label=_("Scale bottom"), initial=1)
    scale_hi = forms.IntegerField(label=_("Scale top"), initial=5)
    comments = forms.BooleanField(
        label=_("Comment fields per touchpoint and overall"), required=False, initial=True
    )


class LanguageForm(forms.Form):
    language = forms.CharField(
        label=_("Language code"), max_length=16, help_text=_("For example sv, de or et.")
    )


def _text_fields(form: forms.Form, languages: list[str], prefix: str, label: str) -> None:
    for language in languages:
        form.fields[f"{prefix}_{language}"] = forms.CharField(
            label=f"{label} ({language})",
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
        )


def _choices_initial(choices: list[dict], language: str) -> str:
    return "\n".join(c["texts"].get(language, "") for c in choices)


def choices_from(data: dict[str, Any], languages: list[str]) -> list[dict] | None:
    """One choice per line, the lines of each language matching up."""
    lines = {lang: [ln.strip() for ln in (data.get(f"choices_{lang}") or "").splitlines()]
             for lang in languages}  # fmt: skip
    count = max((len([ln for ln in ls if ln]) for ls in lines.values()), default=0)
    if count == 0:
        return None
    result = []
    for index in range(count):
        texts = {}
        for lang in languages:
            present = [ln for ln in lines[lang] if ln]
            texts[lang] = present[index] if index < len(present) else ""
        result.append({"value": f"c{index + 1}", "texts": texts})
    return result


class ItemForm(forms.Form):
    """Edit an item: wording per language, required, 'not applicable', scale, choices."""

    required = forms.BooleanField(label=_("Required"), required=False)
    allow_not_applicable = forms.BooleanField(label=_("Offer 'not applicable'"), required=False)
    scale_lo = forms.IntegerField(label=_("Scale bottom"), required=False)
    scale_hi = forms.IntegerField(label=_("Scale top"), required=False)

    def __init__(self, *args: Any, item: Item, languages: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.languages = languages
        _text_fields(self, languages, "text", str(_("Question")))
        for language in languages:
            self.fields[f"text_{language}"].initial = item.texts.get(language, "")
        if item.kind != ItemKind.RATING:
            del self.fields["scale_lo"], self.fields["scale_hi"]
        else:
            self.fields["scale_lo"].initial = item.scale_lo
            self.fields["scale_hi"].initial = item.scale_hi
        if item.kind in (ItemKind.SINGLE_CHOICE, ItemKind.MULTIPLE_CHOICE):
            _text_fields(self, languages, "choices", str(_("Choices, one per line")))
            for language in languages:
                self.fields[f"choices_{language}"].initial = _choices_initial(
                    item.choices, language
                )
        self.fields["required"].initial = item.required
        self.fields["allow_not_applicable"].initial = item.allow_not_applicable

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes: dict[str, Any] = {
            "texts": {lang: data.get(f"text_{lang}", "") for lang in self.languages},
            "required": data["required"],
            "allow_not_applicable": data["allow_not_applicable"],
        }
        if "scale_lo" in self.fields:
            changes["scale_lo"], changes["scale_hi"] = data["scale_lo"], data["scale_hi"]
        if f"choices_{self.languages[0]}" in self.fields:
            changes["choices"] = choices_from(data, self.languages) or []
        return changes


class ItemCreateForm(forms.Form):
    audience = forms.ChoiceField(label=_("Side"), choices=Audience.choices)
    kind = forms.ChoiceField(label=_("Kind"), choices=[(k.value, k.label) for k in CUSTOM_KINDS])
    touchpoint = forms.TypedChoiceField(
        label=_("Touchpoint"), coerce=int, required=False, empty_value=None,
        help_text=_("Map the question to a touchpoint so it counts in its scores."),
    )  # fmt: skip
    dimension = forms.ChoiceField(
        label=_("Dimension"), choices=[("", _("None")), *Dimension.choices], required=False
    )
    scale_lo = forms.IntegerField(label=_("Scale bottom"), required=False, initial=1)
    scale_hi = forms.IntegerField(label=_("Scale top"), required=False, initial=5)
    required = forms.BooleanField(label=_("Required"), required=False)
    allow_not_applicable = forms.BooleanField(label=_("Offer 'not applicable'"), required=False)
    create_twin = forms.BooleanField(
        label=_("Also add its twin on the other side"), required=False, initial=True,
        help_text=_("Mapped questions must have a twin before the questionnaire is published."),
    )  # fmt: skip

    def __init__(self, *args: Any, touchpoints: list, languages: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.languages = languages
        self.fields["touchpoint"].choices = [("", _("Not mapped"))] + [
            (tp.pk, tp.name) for tp in touchpoints
        ]
        _text_fields(self, languages, "text", str(_("Question")))
        _text_fields(self, languages, "choices", str(_("Choices, one per line")))

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data["kind"]
        return {
            "audience": data["audience"],
            "kind": kind,
            "texts": {lang: data.get(f"text_{lang}", "") for lang in self.languages},
            "touchpoint_id": data["touchpoint"],
            "dimension": data["dimension"] or "",
            "scale_lo": data["scale_lo"] if kind == ItemKind.RATING else None,
            "scale_hi": data["scale_hi"] if kind == ItemKind.RATING else None,
            "choices": choices_from(data, self.languages)
            if kind in (ItemKind.SINGLE_CHOICE, ItemKind.MULTIPLE_CHOICE)
            else None,
            "required": data["required"],
            "allow_not_applicable": data["allow_not_applicable"],
            "create_twin": data["create_twin"],
        }

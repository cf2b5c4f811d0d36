"""Standard item wordings per kind, dimension, audience and language.

Survey texts are content stored on the items (per language), not UI strings: these are the
starting wordings that generation writes, which people then edit.
"""

from typing import Any

from .models import Audience, Dimension, ItemKind

C, E = Audience.CUSTOMER, Audience.EMPLOYEE

# (kind, dimension) -> audience -> language -> text; "{tp}" is the touchpoint's name.
WORDINGS: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    (ItemKind.SCREENING, ""): {
        C: {"en": "Did you deal with us through “{tp}”?",
            "fi": "Asioitko kanssamme kohdassa ”{tp}”?"},
        E: {"en": "Do you know how customers experience “{tp}”?",
            "fi": "Tiedätkö, miten asiakkaat kokevat kohdan ”{tp}”?"},
    },
    (ItemKind.RATING, Dimension.EFFECTIVENESS): {
        C: {"en": "How well did “{tp}” do what you needed?",
            "fi": "Kuinka hyvin ”{tp}” vastasi tarpeisiisi?"},
        E: {"en": "How well do you think “{tp}” does what customers need?",
            "fi": "Kuinka hyvin arvioit kohdan ”{tp}” vastaavan asiakkaiden tarpeisiin?"},
    },
    (ItemKind.RATING, Dimension.EASE): {
        C: {"en": "How easy was it to deal with “{tp}”?",
            "fi": "Kuinka helppoa asiointi kohdassa ”{tp}” oli?"},
        E: {"en": "How easy do you think customers find “{tp}”?",
            "fi": "Kuinka helppona arvioit asiakkaiden pitävän kohtaa ”{tp}”?"},
    },
    (ItemKind.RATING, Dimension.EMOTION): {
        C: {"en": "How did “{tp}” make you feel?",
            "fi": "Millaisen tunteen ”{tp}” sinulle jätti?"},
        E: {"en": "How do you think “{tp}” makes customers feel?",
            "fi": "Millaisen tunteen arvioit kohdan ”{tp}” jättävän asiakkaille?"},
    },
    (ItemKind.COMMENT, "touchpoint"): {
        C: {"en": "Anything you would like to tell us about “{tp}”?",
            "fi": "Haluatko kertoa meille jotain kohdasta ”{tp}”?"},
        E: {"en": "What would customers want us to know about “{tp}”?",
            "fi": "Mitä asiakkaat haluaisivat meidän tietävän kohdasta ”{tp}”?"},
    },
    (ItemKind.NPS, ""): {
        C: {"en": "How likely are you to recommend us to a friend or colleague?",
            "fi": "Kuinka todennäköisesti suosittelisit meitä ystävällesi tai kollegallesi?"},
        E: {"en": "How likely do you think customers are to recommend us to a friend or colleague?",
            "fi": "Kuinka todennäköisesti arvioit asiakkaiden suosittelevan meitä ystävilleen "
                  "tai kollegoilleen?"},
    },
    (ItemKind.OVERALL, ""): {
        C: {"en": "Overall, how satisfied are you with us?",
            "fi": "Kuinka tyytyväinen olet meihin kaiken kaikkiaan?"},
        E: {"en": "Overall, how satisfied do you think customers are with us?",
            "fi": "Kuinka tyytyväisiksi arvioit asiakkaiden olevan meihin kaiken kaikkiaan?"},
    },
    (ItemKind.COMMENT, ""): {
        C: {"en": "Is there anything else you would like to tell us?",
            "fi": "Haluatko kertoa meille vielä jotain muuta?"},
        E: {"en": "Is there anything else customers would want us to know?",
            "fi": "Mitä muuta asiakkaat haluaisivat meidän tietävän?"},
    },
}  # fmt: skip

# Yes / no answers of screening items.
SCREENING_CHOICES: list[dict[str, Any]] = [
    {"value": "yes", "texts": {"en": "Yes", "fi": "Kyllä"}},
    {"value": "no", "texts": {"en": "No", "fi": "Ei"}},
]

STANDARD_LANGUAGES = ("en", "fi")


def wording(kind: str, dimension: str, audience: str, language: str, touchpoint: str = "") -> str:
    """The standard text, or "" when there is none for this language."""
    texts = WORDINGS.get((kind, dimension), {}).get(audience, {})
    text = texts.get(language, "")
    return text.replace("{tp}", touchpoint)

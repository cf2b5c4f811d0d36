"""Reads on survey links: the one public lookup by token, and staff listings."""

from django.db.models import QuerySet

from apps.core.tenancy import token_context
from apps.organizations.models import Organization
from apps.surveys.models import Questionnaire

from .models import ContextAttribute, SurveyLink


def link_resolve(token: str) -> SurveyLink | None:
    """The link a public token names, with its organisation, questionnaire and published version.

    The only cross-tenant read on the respondent path: the token is the credential, so the
    lookup is deliberately unscoped, and whatever it finds carries its own organisation. Open
    or not is the caller's decision (a closed link answers 410, an unknown one 404).
    """
    if not token or len(token) > 64:
        return None
    with token_context("survey_link", token, deferred=True) as found:
        if found is None:
            return None
        return (
            SurveyLink.objects.for_organization(found[1])
            .select_related("organization", "questionnaire", "questionnaire__published_version")
            .filter(pk=found[0])
            .first()
        )


def links_for_organization(
    *, organization: Organization, questionnaire_id: int | None = None
) -> QuerySet[SurveyLink]:
    # A campaign's own link is answered only through its personal invitations: not listed.
    links = (
        SurveyLink.objects.for_organization(organization)
        .filter(campaign__isnull=True)
        .select_related("questionnaire", "questionnaire__journey")
    )
    if questionnaire_id is not None:
        links = links.filter(questionnaire_id=questionnaire_id)
    return links


def link_get(*, organization: Organization, link_id: int) -> SurveyLink | None:
    return links_for_organization(organization=organization).filter(pk=link_id).first()


def context_whitelist(*, questionnaire_id: int, organization_id: int) -> dict[str, list[str]]:
    """Attribute name -> allowed values (empty: any value) for a questionnaire's links."""
    return {
        attribute.name: [str(v) for v in attribute.allowed_values]
        for attribute in ContextAttribute.objects.for_organization(organization_id).filter(
            questionnaire_id=questionnaire_id
        )
    }


def context_clean(
    raw: dict[str, str], whitelist: dict[str, list[str]], *, audience: str = "customer"
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Keep whitelisted attributes with allowed values; return (context, errors per name).

    Employee links accept only attributes with a closed list of values: a free-form one (a name
    or an email in the URL) would tie an employee's anonymous response to a person.
    """
    context: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        value = str(value).strip()[:100]
        if name not in whitelist:
            errors[name] = [f"'{name}' is not a context attribute of this questionnaire."]
        elif audience == "employee" and not whitelist[name]:
            errors[name] = [
                f"'{name}' accepts any value, which could identify an employee; give it a list "
                "of allowed values to use it on employee links."
            ]
        elif whitelist[name] and value not in whitelist[name]:
            errors[name] = [f"'{value}' is not an allowed value of '{name}'."]
        elif value:
            context[name] = value
    return context, errors


def context_attributes(
    *, organization: Organization, questionnaire: Questionnaire
) -> QuerySet[ContextAttribute]:
    return ContextAttribute.objects.for_organization(organization).filter(
        questionnaire=questionnaire
    )


def context_attribute_get(
    *, organization: Organization, attribute_id: int
) -> ContextAttribute | None:
    return ContextAttribute.objects.for_organization(organization).filter(pk=attribute_id).first()

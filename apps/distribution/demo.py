"""Demo links for the demo journey's published questionnaire: customers, employees, a kiosk."""

from django.db import transaction

from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Principal
from apps.surveys.models import Questionnaire, QuestionnaireStatus

from .models import ContextAttribute, SurveyLink
from .services import link_create

DEMO_LINKS = (
    {"name": "Customers (web)", "audience": "customer"},
    {"name": "Employees", "audience": "employee"},
    {"name": "Helsinki store counter", "audience": "customer", "kiosk": True,
     "context": {"store": "Helsinki"}},
)  # fmt: skip


@transaction.atomic
def demo_links_load(organization: Organization) -> list[SurveyLink]:
    """Create the demo links unless they exist (idempotent); returns them.

    Needs the demo journey's published questionnaire (journeys.demo.demo_journey_load first);
    without one there is nothing to share and nothing is created.
    """
    questionnaire = (
        Questionnaire.objects.for_organization(organization)
        .select_related("journey")
        .filter(status=QuestionnaireStatus.PUBLISHED)
        .order_by("id")
        .first()
    )
    if questionnaire is None:
        return []
    membership = (
        Membership.objects.for_organization(organization)
        .select_related("user")
        .filter(role="owner")
        .order_by("id")
        .first()
    )
    actor = Principal(
        organization=organization, role="owner", user=membership.user if membership else None
    )
    ContextAttribute.objects.for_organization(organization).get_or_create(
        organization=organization, questionnaire=questionnaire, name="store",
        defaults={"label": "Store", "allowed_values": ["Helsinki", "Tampere", "Turku"]},
    )  # fmt: skip
    existing = {
        link.name: link
        for link in SurveyLink.objects.for_organization(organization).filter(
            questionnaire=questionnaire
        )
    }
    links = []
    for spec in DEMO_LINKS:
        link = existing.get(str(spec["name"]))
        if link is None:
            link = link_create(
                organization=organization, actor=actor, questionnaire=questionnaire, **spec
            )
        links.append(link)
    return links

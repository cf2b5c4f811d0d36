"""Employee anonymity through link context: only closed-list attributes reach employee links."""

import pytest

from apps.core.errors import ValidationFailed
from apps.distribution import services as link_services
from apps.responses.models import Response
from tests.journeys.helpers import principal
from tests.responses.helpers import form_fields, full_answers, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def attributes(org, analyst, questionnaire):
    actor = principal(org, analyst)
    link_services.context_attribute_set(
        organization=org, actor=actor, questionnaire=questionnaire, name="who"
    )  # any value: could carry a person's name
    link_services.context_attribute_set(
        organization=org, actor=actor, questionnaire=questionnaire, name="unit",
        allowed_values=["Sales", "Support"],
    )  # fmt: skip


def test_employee_link_refuses_a_free_form_attribute(attributes, make_link):
    with pytest.raises(ValidationFailed) as caught:
        make_link(audience="employee", context={"who": "maija.virtanen@acme.fi"})
    assert "could identify an employee" in " ".join(caught.value.fields["context"])
    assert make_link(audience="employee", context={"unit": "Sales"}).context == {"unit": "Sales"}
    # Customer links may carry free-form context (a store name, a campaign).
    assert make_link(audience="customer", context={"who": "campaign-7"}).context == {
        "who": "campaign-7"
    }


def test_free_form_attribute_in_an_employee_url_is_not_stored(
    attributes, employee_link, client, settings
):
    settings.RESPONDENT_MIN_SECONDS = 0
    page = client.get(f"/s/{employee_link.token}/?who=maija.virtanen@acme.fi&unit=Support")
    assert page.status_code == 200
    hidden = form_fields(page.content.decode())
    response = submit(client, employee_link, full_answers(employee_link), hidden)
    assert response.status_code == 302, response.content[:500]
    stored = Response.objects.for_organization(employee_link.organization).get()
    assert stored.segment == {"unit": "Support"}


def test_qr_code_can_open_in_a_chosen_language(attributes, customer_link, analyst, client):
    client.force_login(analyst)
    response = client.get(f"/o/acme/links/{customer_link.pk}/qr.svg?lang=fi&unit=Sales")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "image/svg+xml"

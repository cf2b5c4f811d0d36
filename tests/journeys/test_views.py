"""Journey pages: list and create, the journey map, reordering without JavaScript, owners."""

import pytest
from django.test import Client

from apps.journeys.models import Journey, Stage, Touchpoint
from tests.factories import MembershipFactory
from tests.journeys.helpers import b2b_journey

pytestmark = pytest.mark.django_db


@pytest.fixture
def journey(org, analyst):
    return b2b_journey(org, analyst)


@pytest.fixture
def analyst_client(analyst):
    client = Client()
    client.force_login(analyst)
    return client


def test_list_and_create_from_template(analyst_client, org):
    page = analyst_client.get("/o/acme/journeys/")
    assert page.status_code == 200 and "No journeys yet" in page.text
    response = analyst_client.post(
        "/o/acme/journeys/", {"template": "retail-web-shop", "language": "fi", "name": ""}
    )
    assert response.status_code == 302
    journey = Journey.objects.for_organization(org).get()
    assert journey.name == "Myymälä ja verkkokauppa"
    assert response["Location"] == f"/o/acme/journeys/{journey.pk}/"


def test_create_blank_journey_without_name_names_the_field(analyst_client, org):
    response = analyst_client.post("/o/acme/journeys/", {"template": "", "language": "en"})
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert Journey.objects.for_organization(org).count() == 0


def test_journey_map_shows_stages_and_touchpoint_cards(viewer_client, journey):
    page = viewer_client.get(f"/o/acme/journeys/{journey.pk}/")
    assert page.status_code == 200
    html = page.text
    assert html.count('class="journey-stage"') == 4
    assert html.count("touchpoint-card") == 7
    assert "In person" in html and "Phone" in html and "4/5" in html
    # A viewer sees no edit controls.
    assert "Add touchpoint" not in html and 'name="direction"' not in html


def test_viewer_cannot_post_and_stranger_gets_404(viewer_client, stranger_client, journey, org):
    touchpoint = Touchpoint.objects.for_organization(org).filter(journey=journey).first()
    response = viewer_client.post(
        f"/o/acme/journeys/touchpoints/{touchpoint.pk}/move/", {"direction": "down"}
    )
    assert response.status_code == 403
    assert (
        viewer_client.post("/o/acme/journeys/", {"name": "X", "language": "en"}).status_code == 403
    )
    assert viewer_client.get(f"/o/acme/journeys/touchpoints/{touchpoint.pk}/").status_code == 403
    for url in ("/o/acme/journeys/", f"/o/acme/journeys/{journey.pk}/",
                f"/o/rival/journeys/{journey.pk}/",
                f"/o/rival/journeys/touchpoints/{touchpoint.pk}/"):  # fmt: skip
        assert stranger_client.get(url).status_code == 404, url
    response = stranger_client.post(
        f"/o/rival/journeys/touchpoints/{touchpoint.pk}/move/", {"direction": "down"}
    )
    assert response.status_code == 404
    touchpoint.refresh_from_db()
    assert touchpoint.position == 0


def test_move_buttons_reorder_without_javascript(analyst_client, journey, org):
    stages = list(Stage.objects.for_organization(org).filter(journey=journey).order_by("position"))
    brand = Touchpoint.objects.for_organization(org).get(name="Brand impression")
    response = analyst_client.post(
        f"/o/acme/journeys/touchpoints/{brand.pk}/move/", {"direction": "down"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#touchpoint-{brand.pk}")
    brand.refresh_from_db()
    assert brand.position == 1
    analyst_client.post(f"/o/acme/journeys/touchpoints/{brand.pk}/move/", {"direction": "right"})
    brand.refresh_from_db()
    assert brand.stage_id == stages[1].pk
    analyst_client.post(f"/o/acme/journeys/stages/{stages[0].pk}/move/", {"direction": "down"})
    order = Stage.objects.for_organization(org).filter(journey=journey).order_by("position")
    assert [s.pk for s in order][:2] == [stages[1].pk, stages[0].pk]


def test_add_and_edit_touchpoint_forms(analyst_client, journey, org, analyst):
    stage = Stage.objects.for_organization(org).filter(journey=journey).first()
    assert (
        analyst_client.get(f"/o/acme/journeys/stages/{stage.pk}/touchpoints/new/").status_code
        == 200
    )
    bad = analyst_client.post(
        f"/o/acme/journeys/stages/{stage.pk}/touchpoints/new/",
        {"name": "", "channel": "digital", "importance": "3"},
    )
    assert bad.status_code == 400 and "name" in bad.context["form"].errors
    response = analyst_client.post(
        f"/o/acme/journeys/stages/{stage.pk}/touchpoints/new/",
        {"name": "Trade fair", "channel": "physical", "importance": "4", "owner": analyst.pk,
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    touchpoint = Touchpoint.objects.for_organization(org).get(name="Trade fair")
    assert (touchpoint.channel, touchpoint.importance, touchpoint.owner_id) == (
        "physical", 4, analyst.pk
    )  # fmt: skip
    page = analyst_client.get(f"/o/acme/journeys/{journey.pk}/")
    assert "Trade fair" in page.text and (analyst.full_name or analyst.email) in page.text


def test_owner_form_for_admins_only(admin_client_, viewer_client, journey, analyst, org):
    page = admin_client_.get(f"/o/acme/journeys/{journey.pk}/")
    assert "Assign owner" in page.text
    assert "Assign owner" not in viewer_client.get(f"/o/acme/journeys/{journey.pk}/").text
    response = viewer_client.post(f"/o/acme/journeys/{journey.pk}/owner/", {"owner": analyst.pk})
    assert response.status_code == 403
    response = admin_client_.post(f"/o/acme/journeys/{journey.pk}/owner/", {"owner": analyst.pk})
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.owner_id == analyst.pk


def test_journey_owner_viewer_sees_edit_controls(owner_client, journey, org):
    member = MembershipFactory(organization=org, role="viewer")
    owner_client.post(f"/o/acme/journeys/{journey.pk}/owner/", {"owner": member.user_id})
    client = Client()
    client.force_login(member.user)
    page = client.get(f"/o/acme/journeys/{journey.pk}/")
    assert "Add touchpoint" in page.text
    response = client.post(f"/o/acme/journeys/{journey.pk}/stages/new/", {"name": "Loyalty"})
    assert response.status_code == 302
    assert Stage.objects.for_organization(org).filter(name="Loyalty").exists()


def test_nav_links_to_journeys(viewer_client, org):
    assert 'href="/o/acme/journeys/"' in viewer_client.get("/o/acme/").text

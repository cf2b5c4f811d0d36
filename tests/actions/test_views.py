"""The action pages: list with filters, the action's progress page, creating from the dashboard,
the workflow form, editing; strangers get 404 and too-low roles 403."""

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse

from apps.actions.models import ImprovementAction
from tests.journeys.helpers import principal

from .conftest import START, TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def at_today():
    """The organisation's day is TODAY for the pages."""
    with (
        mock.patch("apps.actions.views.organization_today", return_value=TODAY),
        mock.patch("apps.actions.selectors.organization_today", return_value=TODAY),
        mock.patch("apps.actions.services.organization_today", return_value=TODAY),
    ):
        yield


def detail_url(org, action, page="detail"):
    return reverse(f"actions:{page}", args=[org.slug, action.pk])


def test_the_action_page_shows_progress_against_the_baseline(
    viewer_client, org, planted, make_action, at_today
):
    action = make_action()
    response = viewer_client.get(detail_url(org, action))
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["verdict_code"] == "closing"
    assert "Closing: customers&#x27; score is" in page
    assert "Simpler checkout" in page and "Web shop" in page
    assert 'role="img"' in page  # the SVG chart
    assert "Show the figures as a table" in page
    # A viewer reads, but neither edits nor moves the action.
    assert not response.context["can_work"] and not response.context["can_edit"]
    assert "Update the status" not in page


def test_the_owner_moves_the_action_with_a_note(
    client, org, viewer, planted, make_action, at_today
):
    action = make_action(owner_id=viewer.pk)
    client.force_login(viewer)
    response = client.post(detail_url(org, action), {"status": "in_progress", "note": "Begun"})
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == "in_progress"
    page = client.get(detail_url(org, action)).content.decode()
    assert "Begun" in page and "moved it from Planned to In progress" in page


def test_a_status_not_allowed_is_shown_on_the_field(
    owner_client, org, planted, make_action, at_today
):
    action = make_action()
    response = owner_client.post(detail_url(org, action), {"status": "done"})
    assert response.status_code == 400
    assert response.context["form"].errors["status"]
    action.refresh_from_db()
    assert action.status == "planned"


def test_a_viewer_may_not_move_someone_elses_action(viewer_client, org, make_action, at_today):
    action = make_action()
    assert viewer_client.post(detail_url(org, action), {"status": "in_progress"}).status_code == 403
    assert viewer_client.get(detail_url(org, action, "edit")).status_code == 403


def test_a_stranger_gets_404(stranger_client, org, make_action, at_today):
    action = make_action()
    assert stranger_client.get(detail_url(org, action)).status_code == 404
    assert stranger_client.get(reverse("actions:list", args=[org.slug])).status_code == 404


def test_the_list_filters(viewer_client, org, viewer, make_action, at_today):
    mine = make_action(owner_id=viewer.pk, title="Mine")
    make_action(title="Theirs", due_date=START + timedelta(days=2))
    url = reverse("actions:list", args=[org.slug])
    response = viewer_client.get(url)
    assert response.status_code == 200
    assert {a.title for a in response.context["page"].object_list} == {"Mine", "Theirs"}
    assert response.context["counts"]["overdue"] == 1
    by_owner = viewer_client.get(url, {"owner": viewer.pk}).context["page"].object_list
    assert [a.pk for a in by_owner] == [mine.pk]
    overdue = viewer_client.get(url, {"overdue": "1"}).context["page"].object_list
    assert [a.title for a in overdue] == ["Theirs"]
    assert list(viewer_client.get(url, {"status": "done"}).context["page"].object_list) == []
    assert not response.context["can_create"]


def test_the_dashboard_offers_an_action_on_the_blind_spot(owner_client, org, planted):
    url = reverse("dashboards:journey", args=[org.slug, planted.journey.pk])
    response = owner_client.get(url + "?preset=custom&from=2026-03-01&to=2026-03-10")
    page = response.content.decode()
    create = reverse("actions:create", args=[org.slug])
    link = f"{create}?journey={planted.journey.pk}&amp;touchpoint={planted.web.pk}&amp;source="
    assert link + "blind_spot" in page
    assert "Improvement actions" in page and response.context["actions_panel"].total == 0


def test_the_create_form_is_prefilled_from_the_dashboard_link(owner_client, org, planted):
    with mock.patch("apps.actions.views.default_filter") as period:
        from apps.scoring.filters import ReportFilter

        period.return_value = ReportFilter(date_from=START - timedelta(days=40), date_to=START)
        response = owner_client.get(
            reverse("actions:create", args=[org.slug]),
            {"journey": planted.journey.pk, "touchpoint": planted.web.pk, "source": "blind_spot"},
        )
    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial["touchpoint"] == planted.web.pk and initial["journey"] == planted.journey.pk
    assert initial["dimension"] == "ease"  # the dimension with the largest blind-spot gap
    assert initial["title"] == "Close the blind spot at Web shop (ease)"
    assert initial["source"] == "blind_spot"


def test_creating_through_the_form(owner_client, org, owner, analyst, planted, at_today):
    data = {
        "journey": planted.journey.pk, "touchpoint": planted.web.pk, "dimension": "ease",
        "title": "Simpler checkout", "owner": analyst.pk,
        "due_date": (TODAY + timedelta(days=10)).isoformat(), "source": "weak_link",
    }  # fmt: skip
    response = owner_client.post(reverse("actions:create", args=[org.slug]), data)
    assert response.status_code == 302
    action = ImprovementAction.objects.for_organization(org).get()
    assert (action.source, action.started_on, action.owner_id) == ("weak_link", TODAY, analyst.pk)
    assert action.baseline_customer_n == 40  # both periods lie in the 90 days before TODAY


def test_bad_input_on_the_form_names_the_fields(owner_client, org, planted, stranger, at_today):
    data = {
        "journey": planted.journey.pk, "touchpoint": planted.web.pk, "dimension": "",
        "title": "Late", "owner": stranger.pk,
        "due_date": (TODAY - timedelta(days=1)).isoformat(), "source": "manual",
    }  # fmt: skip
    response = owner_client.post(reverse("actions:create", args=[org.slug]), data)
    assert response.status_code == 400
    # The stranger is not among the choices: the form refuses them before the service.
    assert "owner" in response.context["form"].errors
    data["owner"] = ""
    response = owner_client.post(reverse("actions:create", args=[org.slug]), data)
    assert "owner" in response.context["form"].errors
    assert not ImprovementAction.objects.for_organization(org).exists()


def test_a_past_due_date_on_the_form(owner_client, org, owner, planted, at_today):
    data = {
        "journey": planted.journey.pk, "touchpoint": planted.web.pk, "dimension": "",
        "title": "Late", "owner": owner.pk,
        "due_date": (TODAY - timedelta(days=1)).isoformat(), "source": "manual",
    }  # fmt: skip
    response = owner_client.post(reverse("actions:create", args=[org.slug]), data)
    assert response.status_code == 400
    assert response.context["form"].errors["due_date"] == ["The due date is in the past."]
    assert not ImprovementAction.objects.for_organization(org).exists()


def test_a_viewer_may_not_open_the_create_form(viewer_client, org, planted):
    assert viewer_client.get(reverse("actions:create", args=[org.slug])).status_code == 403


def test_a_journey_owner_with_a_viewer_role_creates_and_edits(
    client, org, viewer, journey_owner, planted, make_action, at_today
):
    client.force_login(viewer)
    assert client.get(reverse("actions:create", args=[org.slug])).status_code == 200
    action = make_action(actor=principal(org, viewer))
    data = {"title": "Renamed", "description": "", "owner": viewer.pk,
            "due_date": (TODAY + timedelta(days=3)).isoformat()}  # fmt: skip
    response = client.post(detail_url(org, action, "edit"), data)
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.title == "Renamed"
    page = client.get(detail_url(org, action)).content.decode()
    assert 'edited <small class="muted">Title, Owner, Due date</small>' in page


def test_a_journey_owner_may_not_create_on_another_journey(client, org, viewer, journey_owner):
    from tests.factories import JourneyFactory

    other = JourneyFactory(organization=org, name="Someone else's")
    client.force_login(viewer)
    create = reverse("actions:create", args=[org.slug])
    assert client.get(create, {"journey": other.pk}).status_code == 403
    assert client.get(create, {"journey": 2_147_483_647}).status_code == 404
    assert client.get(create, {"journey": journey_owner.owned_journeys.get().pk}).status_code == 200


def test_the_dashboard_says_when_an_action_is_open(owner_client, org, planted, make_action):
    action = make_action()
    url = reverse("dashboards:journey", args=[org.slug, planted.journey.pk])
    response = owner_client.get(url + "?preset=custom&from=2026-03-01&to=2026-03-10")
    page = response.content.decode()
    assert "An action is open" in page
    assert "source=blind_spot" not in page.split("Journey map")[0]  # no second one offered
    panel = response.context["actions_panel"]
    assert panel.total == 1 and panel.rows[0] == ("planned", "Planned", 1)
    listed = owner_client.get(
        reverse("actions:list", args=[org.slug]),
        {"journey": planted.journey.pk, "touchpoint": planted.web.pk},
    )
    assert [a.pk for a in listed.context["page"].object_list] == [action.pk]
    other = owner_client.get(
        reverse("actions:list", args=[org.slug]), {"touchpoint": planted.support.pk}
    )
    assert list(other.context["page"].object_list) == []


def test_the_chart_marks_the_period_the_action_started(
    viewer_client, org, planted, make_action, at_today
):
    action = make_action()
    chart = viewer_client.get(detail_url(org, action)).context["chart"]
    starred = [row[0] for row in chart.rows if row[0].endswith(" *")]
    # About a hundred days: weekly, from Mondays; the start's week is starred.
    monday = START - timedelta(days=START.weekday())
    assert starred == [monday.isoformat() + " *"]

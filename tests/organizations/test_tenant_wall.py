"""The tenant wall: base views, API bases, scoped querysets and the permissions module."""

import pytest

from apps.core.tenancy import UnscopedQueryError, current_organization_id
from apps.organizations.base import OrganizationAPIView, OrganizationView
from apps.organizations.models import Membership
from apps.organizations.permissions import Action, Principal, can

pytestmark = pytest.mark.django_db


def test_unscoped_tenant_queries_are_refused(org, owner):
    with pytest.raises(UnscopedQueryError, match="for_organization"):
        list(Membership.objects.all())
    with pytest.raises(UnscopedQueryError):
        Membership.objects.filter(role="owner").exists()
    with pytest.raises(UnscopedQueryError):
        Membership.objects.count()
    assert Membership.objects.for_organization(org).filter(role="owner").count() == 1
    assert Membership.unscoped.count() == 1  # spelled out: a reviewer sees it


def test_subclasses_cannot_skip_organisation_resolution():
    with pytest.raises(TypeError, match="dispatch"):

        class Sneaky(OrganizationView):
            def dispatch(self, request, *args, **kwargs):
                return None

    with pytest.raises(TypeError, match="initial"):

        class SneakyAPI(OrganizationAPIView):
            def initial(self, request, *args, **kwargs):
                return None


def test_org_pages_for_members_404_for_strangers_and_missing(client, owner, stranger, org):
    client.force_login(owner)
    assert client.get("/o/acme/").status_code == 200
    client.force_login(stranger)
    stranger_response = client.get("/o/acme/")
    missing_response = client.get("/o/no-such-org/")
    assert stranger_response.status_code == missing_response.status_code == 404


def test_anonymous_visitors_are_sent_to_login(client, org):
    response = client.get("/o/acme/settings/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/o/acme/settings/")


def test_settings_viewer_reads_but_cannot_change(client, viewer, org):
    client.force_login(viewer)
    page = client.get("/o/acme/settings/")
    assert page.status_code == 200 and "Only admins and owners" in page.text
    response = client.post("/o/acme/settings/", {"name": "Hacked"})
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme Oy"


def test_admin_changes_settings_and_it_is_audited(client, admin, org):
    from apps.audit.models import AuditEntry

    client.force_login(admin)
    data = {
        "name": "Acme Group", "time_zone": "Europe/Stockholm", "default_language": "fi",
        "min_n": 12, "gap_threshold": 8, "alpha": 0.01, "employee_anonymity_min": 6,
        "top_priorities": 3,
    }  # fmt: skip
    response = client.post("/o/acme/settings/", data)
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.time_zone, org.min_n, org.alpha) == (
        "Acme Group",
        "Europe/Stockholm",
        12,
        0.01,
    )
    entry = AuditEntry.objects.for_organization(org).get(action="organization.settings_changed")
    assert entry.actor == admin
    assert entry.data["changes"]["min_n"] == [10, 12]


@pytest.mark.parametrize(
    ("field", "value"),
    [("alpha", "1.5"), ("min_n", "1"), ("time_zone", "Mars/Olympus"), ("name", "")],
)
def test_bad_settings_name_the_field_and_change_nothing(client, admin, org, field, value):
    client.force_login(admin)
    data = {
        "name": "Acme Oy", "time_zone": "Europe/Helsinki", "default_language": "en",
        "min_n": 10, "gap_threshold": 10, "alpha": 0.05, "employee_anonymity_min": 5,
        "top_priorities": 2, field: value,
    }  # fmt: skip
    response = client.post("/o/acme/settings/", data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    org.refresh_from_db()
    assert (org.name, org.alpha, org.min_n, org.time_zone) == (
        "Acme Oy",
        0.05,
        10,
        "Europe/Helsinki",
    )


def test_handlers_run_inside_the_organisation_context(rf, owner, org):
    seen = {}

    class Probe(OrganizationView):
        def get(self, request):
            from django.http import HttpResponse

            seen["org"] = current_organization_id()
            return HttpResponse("ok")

    request = rf.get("/o/acme/probe/")
    request.user = owner
    Probe.as_view()(request, org_slug="acme")
    assert seen["org"] == org.pk
    assert current_organization_id() is None


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", True), ("admin", True), ("analyst", False), ("viewer", False)],
)
def test_role_matrix_for_member_management(org, role, allowed):
    from tests.factories import MembershipFactory

    principal = Principal.for_membership(MembershipFactory(organization=org, role=role))
    assert can(principal, Action.MEMBERS_MANAGE) is allowed
    assert can(principal, Action.ORG_VIEW) is True
    assert can(principal, Action.OWNERS_MANAGE) is (role == "owner")


def test_permissions_refuse_objects_of_another_organisation(org, other_org):
    from tests.factories import MembershipFactory

    principal = Principal.for_membership(MembershipFactory(organization=org, role="owner"))
    foreign = MembershipFactory(organization=other_org)
    assert can(principal, Action.MEMBERS_VIEW) is True
    assert can(principal, Action.MEMBERS_VIEW, foreign) is False


def test_journey_and_touchpoint_owners_get_object_roles(org):
    from types import SimpleNamespace

    from tests.factories import MembershipFactory

    membership = MembershipFactory(organization=org, role="viewer")
    principal = Principal.for_membership(membership)
    journey = type("Journey", (), {"organization_id": org.pk, "owner_id": membership.user_id,
                                   "touchpoint_owner_ids": ()})()  # fmt: skip
    other_journey = type("Journey", (), {"organization_id": org.pk, "owner_id": -1,
                                         "touchpoint_owner_ids": ()})()  # fmt: skip
    assert can(principal, Action.JOURNEY_EDIT, journey) is True
    assert can(principal, Action.JOURNEY_EDIT, other_journey) is False
    touchpoint = type("Touchpoint", (), {"organization_id": org.pk, "owner_id": membership.user_id,
                                         "journey": other_journey})()  # fmt: skip
    assert can(principal, Action.ALERT_WORK, touchpoint) is True
    assert can(principal, Action.ALERT_WORK, SimpleNamespace(organization_id=org.pk)) is False


def test_overview_lists_the_organisations_journeys(client, viewer, org, other_org):
    from tests.factories import JourneyFactory

    JourneyFactory(organization=org, name="Customer onboarding")
    JourneyFactory(organization=other_org, name="Rival secret journey")
    client.force_login(viewer)
    page = client.get("/o/acme/")
    assert "Customer onboarding" in page.text
    assert "Rival secret journey" not in page.text
    assert "New journey" not in page.text  # viewers do not create journeys

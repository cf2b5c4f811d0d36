"""Members: listing, changing roles, removing, leaving; the last owner always stays."""

import pytest

from apps.audit.models import AuditEntry
from apps.core.errors import Conflict, PermissionDenied, ValidationFailed
from apps.organizations import services
from apps.organizations.models import Membership
from apps.organizations.permissions import Principal
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _membership(org, user):
    return Membership.objects.for_organization(org).get(user=user)


def _principal(org, user):
    return Principal.for_membership(_membership(org, user))


def _audit(org, action):
    return list(AuditEntry.objects.for_organization(org).filter(action=action))


# --- Services -----------------------------------------------------------------------------------


def test_admin_changes_a_non_owner_role_and_it_is_audited(org, admin, viewer):
    target = _membership(org, viewer)
    services.membership_change_role(
        organization=org, actor=_principal(org, admin), membership_id=target.pk, role="analyst"
    )
    target.refresh_from_db()
    assert target.role == "analyst"
    [entry] = _audit(org, "membership.role_changed")
    assert entry.actor == admin
    assert entry.data == {"email": viewer.email, "before": "viewer", "after": "analyst"}


def test_admin_can_neither_grant_nor_take_the_owner_role(org, owner, admin, viewer):
    actor = _principal(org, admin)
    with pytest.raises(PermissionDenied, match="Only owners"):
        services.membership_change_role(
            organization=org, actor=actor, membership_id=_membership(org, viewer).pk, role="owner"
        )
    with pytest.raises(PermissionDenied, match="Only owners"):
        services.membership_change_role(
            organization=org, actor=actor, membership_id=_membership(org, owner).pk, role="viewer"
        )
    with pytest.raises(PermissionDenied):
        services.membership_remove(
            organization=org, actor=actor, membership_id=_membership(org, owner).pk
        )
    assert _membership(org, viewer).role == "viewer"
    assert _membership(org, owner).role == "owner"
    assert not _audit(org, "membership.role_changed")


def test_owner_makes_another_owner_then_steps_down(org, owner, admin):
    actor = _principal(org, owner)
    services.membership_change_role(
        organization=org, actor=actor, membership_id=_membership(org, admin).pk, role="owner"
    )
    services.membership_change_role(
        organization=org, actor=actor, membership_id=_membership(org, owner).pk, role="admin"
    )
    assert _membership(org, owner).role == "admin"
    assert _membership(org, admin).role == "owner"


def test_the_last_owner_cannot_be_demoted_removed_or_leave(org, owner, admin):
    actor = _principal(org, owner)
    own = _membership(org, owner)
    with pytest.raises(Conflict, match="last owner"):
        services.membership_change_role(
            organization=org, actor=actor, membership_id=own.pk, role="admin"
        )
    with pytest.raises(Conflict, match="last owner"):
        services.membership_remove(organization=org, actor=actor, membership_id=own.pk)
    with pytest.raises(Conflict, match="last owner"):
        services.membership_leave(organization=org, actor=actor)
    own.refresh_from_db()
    assert own.role == "owner"
    assert AuditEntry.objects.for_organization(org).count() == 0


def test_unknown_role_names_the_field(org, admin, viewer):
    with pytest.raises(ValidationFailed) as excinfo:
        services.membership_change_role(
            organization=org,
            actor=_principal(org, admin),
            membership_id=_membership(org, viewer).pk,
            role="emperor",
        )
    assert "role" in excinfo.value.fields


def test_remove_and_leave_are_audited(org, owner, admin, viewer, analyst):
    services.membership_remove(
        organization=org, actor=_principal(org, admin), membership_id=_membership(org, viewer).pk
    )
    services.membership_leave(organization=org, actor=_principal(org, analyst))
    assert set(Membership.objects.for_organization(org).values_list("user__email", flat=True)) == {
        owner.email,
        admin.email,
    }
    [removed] = _audit(org, "membership.removed")
    assert removed.data == {"email": viewer.email, "role": "viewer"}
    assert removed.target_label == viewer.email
    [left] = _audit(org, "membership.left")
    assert left.actor == analyst and left.data["email"] == analyst.email


def test_members_of_another_organisation_are_not_found(org, other_org, owner, stranger):
    from apps.core.errors import NotFound

    with pytest.raises(NotFound):
        services.membership_remove(
            organization=org,
            actor=_principal(org, owner),
            membership_id=_membership(other_org, stranger).pk,
        )
    assert Membership.objects.for_organization(other_org).filter(user=stranger).exists()


# --- Web ----------------------------------------------------------------------------------------


def test_members_page_lists_members_with_roles(viewer_client, org, owner, viewer, admin):
    page = viewer_client.get("/o/acme/members/")
    assert page.status_code == 200
    assert owner.email in page.text and admin.email in page.text
    assert "Owner" in page.text and "Admin" in page.text
    # A viewer sees the list, but no management forms.
    assert "/members/invite/" not in page.text
    assert "/role/" not in page.text


def test_members_page_offers_admins_no_owner_role(admin_client_, org, owner, viewer):
    page = admin_client_.get("/o/acme/members/")
    assert page.status_code == 200
    rows = {row["membership"].user.email: row for row in page.context["rows"]}
    assert rows[viewer.email]["manageable"] and not rows[owner.email]["manageable"]
    assert [value for value, _ in page.context["roles"]] == ["admin", "analyst", "viewer"]


def test_members_page_is_404_for_strangers(stranger_client, org):
    assert stranger_client.get("/o/acme/members/").status_code == 404
    membership_id = 1
    assert stranger_client.post(f"/o/acme/members/{membership_id}/remove/").status_code == 404


def test_viewer_cannot_change_roles_or_remove(viewer_client, org, admin, viewer):
    target = _membership(org, admin)
    assert (
        viewer_client.post(f"/o/acme/members/{target.pk}/role/", {"role": "viewer"}).status_code
        == 403
    )
    assert viewer_client.post(f"/o/acme/members/{target.pk}/remove/").status_code == 403
    assert _membership(org, admin).role == "admin"


def test_web_role_change_and_removal(admin_client_, org, viewer, analyst):
    target = _membership(org, viewer)
    response = admin_client_.post(f"/o/acme/members/{target.pk}/role/", {"role": "analyst"})
    assert response.status_code == 302
    assert _membership(org, viewer).role == "analyst"
    response = admin_client_.post(f"/o/acme/members/{_membership(org, analyst).pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.for_organization(org).filter(user=analyst).exists()


def test_web_bad_role_is_400_naming_the_field(admin_client_, org, viewer):
    target = _membership(org, viewer)
    response = admin_client_.post(f"/o/acme/members/{target.pk}/role/", {"role": "emperor"})
    assert response.status_code == 400
    assert "Role:" in response.context["error"]
    assert _membership(org, viewer).role == "viewer"


def test_web_other_organisations_member_is_404(owner_client, other_org, stranger):
    foreign = _membership(other_org, stranger)
    response = owner_client.post(f"/o/acme/members/{foreign.pk}/role/", {"role": "viewer"})
    assert response.status_code == 404
    assert owner_client.post(f"/o/acme/members/{foreign.pk}/remove/").status_code == 404
    assert _membership(other_org, stranger).role == "owner"


def test_web_last_owner_gets_a_clear_error(owner_client, org, owner):
    own = _membership(org, owner)
    response = owner_client.post(f"/o/acme/members/{own.pk}/role/", {"role": "viewer"})
    assert response.status_code == 409
    assert "last owner" in response.context["error"]
    response = owner_client.post("/o/acme/leave/")
    assert response.status_code == 409
    assert "last owner" in response.text
    assert _membership(org, owner).role == "owner"


def test_member_leaves_through_the_web(viewer_client, org, viewer):
    response = viewer_client.post("/o/acme/leave/")
    assert response.status_code == 302
    assert not Membership.objects.for_organization(org).filter(user=viewer).exists()
    assert viewer_client.get("/o/acme/").status_code == 404


# --- API ----------------------------------------------------------------------------------------


def test_api_lists_members_paginated(viewer_api, org, owner, viewer):
    response = viewer_api.get("/api/v1/o/acme/members/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert {(m["email"], m["role"]) for m in body["results"]} == {
        (owner.email, "owner"),
        (viewer.email, "viewer"),
    }


def test_api_member_detail_patch_and_delete(admin_api, org, viewer, analyst):
    target = _membership(org, viewer)
    assert admin_api.get(f"/api/v1/o/acme/members/{target.pk}/").json()["email"] == viewer.email
    response = admin_api.patch(
        f"/api/v1/o/acme/members/{target.pk}/", {"role": "analyst"}, format="json"
    )
    assert response.status_code == 200 and response.json()["role"] == "analyst"
    response = admin_api.delete(f"/api/v1/o/acme/members/{_membership(org, analyst).pk}/")
    assert response.status_code == 204
    assert not Membership.objects.for_organization(org).filter(user=analyst).exists()


def test_api_roles_and_strangers(viewer_api, stranger_api, admin_api, org, owner, viewer):
    target = _membership(org, viewer)
    url = f"/api/v1/o/acme/members/{target.pk}/"
    assert viewer_api.patch(url, {"role": "admin"}, format="json").status_code == 403
    assert stranger_api.get("/api/v1/o/acme/members/").status_code == 404
    assert stranger_api.patch(url, {"role": "admin"}, format="json").status_code == 404
    # Admins may not promote to owner; the error says why.
    response = admin_api.patch(url, {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert "Only owners" in response.json()["error"]["message"]
    assert _membership(org, viewer).role == "viewer"


def test_api_bad_role_names_the_field(admin_api, org, viewer):
    target = _membership(org, viewer)
    response = admin_api.patch(
        f"/api/v1/o/acme/members/{target.pk}/", {"role": "emperor"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["error"]["fields"]


def test_api_other_organisations_member_id_is_404(owner_api, other_org, stranger):
    foreign = _membership(other_org, stranger)
    assert owner_api.get(f"/api/v1/o/acme/members/{foreign.pk}/").status_code == 404
    assert owner_api.delete(f"/api/v1/o/acme/members/{foreign.pk}/").status_code == 404
    response = owner_api.patch(
        f"/api/v1/o/acme/members/{foreign.pk}/", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 404
    assert _membership(other_org, stranger).role == "owner"


def test_api_last_owner_is_a_conflict(owner_api, org, owner):
    own = _membership(org, owner)
    response = owner_api.delete(f"/api/v1/o/acme/members/{own.pk}/")
    assert response.status_code == 409
    assert "last owner" in response.json()["error"]["message"]
    assert Membership.objects.for_organization(org).filter(user=owner).exists()


def test_member_list_query_count_does_not_grow(viewer_api, org, django_assert_max_num_queries):
    for _ in range(5):
        MembershipFactory(organization=org)
    with django_assert_max_num_queries(8):
        response = viewer_api.get("/api/v1/o/acme/members/")
    assert response.json()["count"] == 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    """The memberships are locked: the second demotion sees the first and is refused."""
    import threading

    from django.db import connection

    from tests.factories import OrganizationFactory

    organization = OrganizationFactory()
    first = MembershipFactory(organization=organization, role="owner")
    second = MembershipFactory(organization=organization, role="owner")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(actor: Membership, target: Membership) -> None:
        try:
            barrier.wait()
            services.membership_change_role(
                organization=organization,
                actor=Principal.for_membership(actor),
                membership_id=target.pk,
                role="admin",
            )
            outcomes.append("demoted")
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second)),
        threading.Thread(target=demote, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["demoted", "refused"]
    owners = Membership.objects.for_organization(organization).filter(role="owner")
    assert owners.count() == 1


@pytest.mark.django_db
def test_removed_member_stops_owning_journeys_and_touchpoints(org, owner, analyst):
    """Otherwise they would get their old journey back if they rejoined as a viewer."""
    from apps.audit.models import AuditEntry
    from apps.journeys.models import Journey, Touchpoint
    from apps.organizations import services
    from apps.organizations.models import Membership
    from apps.organizations.permissions import Principal
    from tests.factories import JourneyFactory

    journey = JourneyFactory(organization=org, owner=analyst)
    actor = Principal.for_membership(Membership.objects.for_organization(org).get(user=owner))
    membership = Membership.objects.for_organization(org).get(user=analyst)
    services.membership_remove(organization=org, actor=actor, membership_id=membership.pk)
    journey.refresh_from_db()
    assert journey.owner_id is None
    assert not Touchpoint.objects.for_organization(org).filter(owner=analyst).exists()
    entry = AuditEntry.objects.for_organization(org).get(action="journey.ownership_released")
    assert entry.data["journeys"] == [journey.pk]
    assert Journey.objects.for_organization(org).count() == 1

"""API keys: the web page and API to mint, list and revoke them, and what a key may do."""

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEntry
from apps.organizations.api_keys import api_key_create, api_key_revoke, api_key_verify
from apps.organizations.models import ApiKey, Membership
from apps.organizations.permissions import Principal

pytestmark = pytest.mark.django_db


def _principal(org, user):
    return Principal.for_membership(Membership.objects.for_organization(org).get(user=user))


def _key(org, user, access="read_only", name="CRM export"):
    return api_key_create(organization=org, actor=_principal(org, user), name=name, access=access)


def _bearer(plaintext):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


# --- Services and authentication ----------------------------------------------------------------


def test_key_is_stored_hashed_and_verifies(org, admin):
    key, plaintext = _key(org, admin)
    assert plaintext.startswith(f"cx_{key.prefix}_")
    assert plaintext not in (key.key_hash, key.prefix) and len(plaintext) > 50
    assert api_key_verify(plaintext) == key
    assert api_key_verify(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert AuditEntry.objects.for_organization(org).filter(action="api_key.created").exists()


def test_read_only_key_reads_but_cannot_write(org, admin):
    _, plaintext = _key(org, admin)
    client = _bearer(plaintext)
    assert client.get("/api/v1/o/acme/").json()["slug"] == "acme"
    assert client.get("/api/v1/o/acme/members/").status_code == 200
    response = client.patch("/api/v1/o/acme/", {"name": "Hacked"}, format="json")
    assert response.status_code == 403
    org.refresh_from_db()
    assert org.name == "Acme Oy"


def test_read_write_key_changes_settings_and_is_audited_as_the_key(org, admin):
    key, plaintext = _key(org, admin, access="read_write", name="Sync")
    response = _bearer(plaintext).patch("/api/v1/o/acme/", {"min_n": 15}, format="json")
    assert response.status_code == 200
    org.refresh_from_db()
    assert org.min_n == 15
    entry = AuditEntry.objects.for_organization(org).get(action="organization.settings_changed")
    assert entry.actor is None and entry.actor_label == f"API key Sync (cx_{key.prefix})"
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_revoked_and_unknown_keys_are_401_with_a_clear_message(org, admin):
    key, plaintext = _key(org, admin)
    api_key_revoke(organization=org, actor=_principal(org, admin), key_id=key.pk)
    response = _bearer(plaintext).get("/api/v1/o/acme/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This API key has been revoked."
    response = _bearer("cx_deadbeef_not-a-real-secret").get("/api/v1/o/acme/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid API key."


def test_key_of_another_organisation_is_404(org, other_org, stranger):
    _, plaintext = _key(other_org, stranger, access="read_write")
    client = _bearer(plaintext)
    assert client.get("/api/v1/o/acme/").status_code == 404
    assert client.get("/api/v1/o/acme/members/").status_code == 404
    assert client.patch("/api/v1/o/acme/", {"name": "Hacked"}, format="json").status_code == 404
    assert client.get("/api/v1/o/rival/").status_code == 200


def test_keys_cannot_manage_keys(org, admin):
    key, plaintext = _key(org, admin, access="read_write")
    client = _bearer(plaintext)
    assert client.get("/api/v1/o/acme/api-keys/").status_code == 403
    response = client.post("/api/v1/o/acme/api-keys/", {"name": "Child"}, format="json")
    assert response.status_code == 403
    assert client.delete(f"/api/v1/o/acme/api-keys/{key.pk}/").status_code == 403
    assert ApiKey.objects.for_organization(org).count() == 1
    key.refresh_from_db()
    assert key.is_active


def test_read_write_key_cannot_make_owners(org, admin, viewer):
    _, plaintext = _key(org, admin, access="read_write")
    client = _bearer(plaintext)
    target = Membership.objects.for_organization(org).get(user=viewer)
    response = client.patch(
        f"/api/v1/o/acme/members/{target.pk}/", {"role": "owner"}, format="json"
    )
    assert response.status_code == 403
    # Not even lesser roles: managing people is not a machine's job (see the next test).
    assert (
        client.patch(
            f"/api/v1/o/acme/members/{target.pk}/", {"role": "analyst"}, format="json"
        ).status_code
        == 403
    )
    target.refresh_from_db()
    assert target.role == "viewer"


# --- Web ----------------------------------------------------------------------------------------


def test_web_create_shows_the_key_once(admin_client_, org, admin):
    response = admin_client_.post("/o/acme/api-keys/", {"name": "BI tool", "access": "read_write"})
    assert response.status_code == 200
    plaintext = response.context["plaintext"]
    assert plaintext in response.text and "shown only once" in response.text
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.for_organization(org).get()
    assert (key.name, key.access, key.created_by) == ("BI tool", "read_write", admin)
    assert plaintext not in str(dict(admin_client_.session))
    # The list shows its prefix, never the secret again.
    page = admin_client_.get("/o/acme/api-keys/")
    assert f"cx_{key.prefix}_…" in page.text and plaintext not in page.text
    assert "Read and write" in page.text and "Never" in page.text
    assert api_key_verify(plaintext) == key


def test_web_create_bad_input_names_the_field(admin_client_, org):
    response = admin_client_.post("/o/acme/api-keys/", {"name": "", "access": "read_only"})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    response = admin_client_.post("/o/acme/api-keys/", {"name": "X", "access": "everything"})
    assert response.status_code == 400 and "access" in response.context["form"].errors
    assert not ApiKey.objects.for_organization(org).exists()


def test_web_revoke(admin_client_, org, admin):
    key, plaintext = _key(org, admin)
    response = admin_client_.post(f"/o/acme/api-keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == admin
    assert "Revoked" in admin_client_.get("/o/acme/api-keys/").text
    assert _bearer(plaintext).get("/api/v1/o/acme/").status_code == 401


def test_web_roles_and_strangers(client, org, admin, analyst, stranger, other_org):
    key, _ = _key(org, admin)
    client.force_login(analyst)
    assert client.get("/o/acme/api-keys/").status_code == 403
    assert client.post("/o/acme/api-keys/", {"name": "x"}).status_code == 403
    assert client.post(f"/o/acme/api-keys/{key.pk}/revoke/").status_code == 403
    client.force_login(stranger)
    assert client.get("/o/acme/api-keys/").status_code == 404
    assert client.post(f"/o/acme/api-keys/{key.pk}/revoke/").status_code == 404
    assert client.post(f"/o/rival/api-keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.is_active
    assert ApiKey.objects.for_organization(org).count() == 1


def test_nav_links_to_keys_for_admins_only(admin_client_, viewer_client, org):
    assert 'href="/o/acme/api-keys/"' in admin_client_.get("/o/acme/").text
    assert 'href="/o/acme/api-keys/"' not in viewer_client.get("/o/acme/").text


# --- API ----------------------------------------------------------------------------------------


def test_api_create_returns_the_key_once_then_lists_and_revokes(owner_api, org):
    response = owner_api.post(
        "/api/v1/o/acme/api-keys/", {"name": "Warehouse", "access": "read_only"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["key"].startswith(f"cx_{body['prefix']}_") and body["status"] == "active"
    listing = owner_api.get("/api/v1/o/acme/api-keys/").json()
    assert listing["count"] == 1 and "key" not in listing["results"][0]
    detail = owner_api.get(f"/api/v1/o/acme/api-keys/{body['id']}/").json()
    assert "key" not in detail and detail["name"] == "Warehouse"
    assert _bearer(body["key"]).get("/api/v1/o/acme/").status_code == 200
    revoked = owner_api.delete(f"/api/v1/o/acme/api-keys/{body['id']}/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert _bearer(body["key"]).get("/api/v1/o/acme/").status_code == 401


def test_api_bad_input_names_the_field(owner_api, org):
    response = owner_api.post("/api/v1/o/acme/api-keys/", {"access": "read_only"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["error"]["fields"]
    response = owner_api.post(
        "/api/v1/o/acme/api-keys/", {"name": "x", "access": "root"}, format="json"
    )
    assert response.status_code == 400 and "access" in response.json()["error"]["fields"]
    assert not ApiKey.objects.for_organization(org).exists()


def test_api_roles_and_strangers(analyst_api, stranger_api, org, admin, other_org, stranger):
    key, _ = _key(org, admin)
    assert analyst_api.get("/api/v1/o/acme/api-keys/").status_code == 403
    assert (
        analyst_api.post("/api/v1/o/acme/api-keys/", {"name": "x"}, format="json").status_code
        == 403
    )
    assert stranger_api.get("/api/v1/o/acme/api-keys/").status_code == 404
    assert stranger_api.get(f"/api/v1/o/rival/api-keys/{key.pk}/").status_code == 404
    assert stranger_api.delete(f"/api/v1/o/rival/api-keys/{key.pk}/").status_code == 404
    key.refresh_from_db()
    assert key.is_active


def test_api_schema_documents_the_endpoints(client):
    schema = client.get(
        "/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}
    ).json()
    paths = schema["paths"]
    for path in (
        "/api/v1/o/{org_slug}/members/",
        "/api/v1/o/{org_slug}/members/{id}/",
        "/api/v1/o/{org_slug}/invitations/",
        "/api/v1/o/{org_slug}/invitations/{id}/resend/",
        "/api/v1/o/{org_slug}/api-keys/",
        "/api/v1/o/{org_slug}/api-keys/{id}/",
    ):
        assert path in paths, path
    created = paths["/api/v1/o/{org_slug}/api-keys/"]["post"]["responses"]["201"]
    ref = created["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "key" in schema["components"]["schemas"][ref]["properties"]
    members = paths["/api/v1/o/{org_slug}/members/"]["get"]["responses"]["200"]
    ref = members["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "count" in schema["components"]["schemas"][ref]["properties"]  # paginated


@pytest.mark.django_db
def test_read_write_key_cannot_manage_people(org, viewer):
    """A key that could invite or promote an admin could mint keys through that person."""
    from rest_framework.test import APIClient

    from apps.organizations.api_keys import api_key_create
    from apps.organizations.models import Membership
    from apps.organizations.permissions import Principal
    from tests.factories import MembershipFactory

    owner = MembershipFactory(organization=org, role="owner")
    _key, plaintext = api_key_create(
        organization=org, actor=Principal.for_membership(owner), name="CRM", access="read_write"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    invite = client.post(
        "/api/v1/o/acme/invitations/",
        {"email": "evil@attacker.test", "role": "admin"},
        format="json",
    )
    assert invite.status_code == 403
    member = Membership.objects.for_organization(org).get(user=viewer)
    promote = client.patch(f"/api/v1/o/acme/members/{member.pk}/", {"role": "admin"}, format="json")
    assert promote.status_code == 403
    member.refresh_from_db()
    assert member.role == "viewer"
    assert client.get("/api/v1/o/acme/members/").status_code == 200  # reading is fine

"""One error format for every API failure: {"error": {"code", "message", "fields"}}."""

import pytest
from rest_framework import serializers
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.core.errors import Conflict, ValidationFailed

factory = APIRequestFactory()


class _Payload(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    scale_hi = serializers.IntegerField()


class _View(APIView):
    authentication_classes = ()
    permission_classes = ()

    def post(self, request):
        if request.data.get("raise") == "conflict":
            raise Conflict("Slug already taken.", fields={"slug": ["Already taken."]})
        if request.data.get("raise") == "invalid":
            raise ValidationFailed(
                "Scale top must be above its bottom.", fields={"scale_hi": ["Must be above 1."]}
            )
        _Payload(data=request.data).is_valid(raise_exception=True)
        return None


def _post(data):
    response = _View.as_view()(factory.post("/x", data, format="json"))
    response.render()
    return response


def test_serializer_errors_name_the_fields():
    response = _post({"name": "much too long"})
    assert response.status_code == 400
    error = response.data["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"name", "scale_hi"}
    assert "name" in error["message"] and "scale_hi" in error["message"]


@pytest.mark.parametrize(
    ("kind", "status", "code", "field"),
    [("conflict", 409, "conflict", "slug"), ("invalid", 400, "invalid", "scale_hi")],
)
def test_application_errors_render_with_their_code(kind, status, code, field):
    response = _post({"raise": kind})
    assert response.status_code == status
    assert response.data["error"]["code"] == code
    assert field in response.data["error"]["fields"]


def test_authentication_failures_use_the_same_format(db):
    from rest_framework.permissions import IsAuthenticated

    class Private(APIView):
        permission_classes = (IsAuthenticated,)

        def get(self, request):
            return None

    request = factory.get("/private")
    response = Private.as_view()(request)
    response.render()
    assert response.status_code in (401, 403)
    assert response.data["error"]["code"] == "not_authenticated"
    assert response.data["error"]["fields"] == {}


@pytest.mark.django_db
@pytest.mark.parametrize("collection", ["suppressions", "audit"])
def test_a_nul_in_a_query_parameter_is_a_400_naming_it(admin_api, org, collection):
    """Found by the schema fuzz: PostgreSQL refuses NUL in text, so a search was a 500."""
    response = admin_api.get(f"/api/v1/o/{org.slug}/{collection}/", {"q": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"q": ["Null characters are not allowed."]}
    assert admin_api.get(f"/api/v1/o/{org.slug}/{collection}/", {"q": "ab"}).status_code == 200


@pytest.mark.django_db
def test_a_nul_in_a_web_query_parameter_is_a_400(owner_client, org):
    """The same on the web pages: the suppression search was a 500 on PostgreSQL."""
    url = f"/o/{org.slug}/contacts/suppressions/"
    assert owner_client.get(url, {"q": "a\x00b"}).status_code == 400
    assert owner_client.get(url, {"q": "ab"}).status_code == 200

"""Link API URLs under /api/v1/o/<org_slug>/: links/ and context-attributes/."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(r"o/(?P<org_slug>[-\w]+)/links", api.LinkViewSet, basename="link")
router.register(
    r"o/(?P<org_slug>[-\w]+)/context-attributes",
    api.ContextAttributeViewSet,
    basename="context-attribute",
)

urlpatterns = router.urls

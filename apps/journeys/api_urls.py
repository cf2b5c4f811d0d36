"""Journey API URLs under /api/v1/o/<org_slug>/."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(r"o/(?P<org_slug>[-\w]+)/journeys", api.JourneyViewSet, basename="journey")
router.register(r"o/(?P<org_slug>[-\w]+)/stages", api.StageViewSet, basename="stage")
router.register(r"o/(?P<org_slug>[-\w]+)/touchpoints", api.TouchpointViewSet, basename="touchpoint")
router.register(
    r"o/(?P<org_slug>[-\w]+)/journey-templates",
    api.JourneyTemplateViewSet,
    basename="journey-template",
)

urlpatterns = router.urls

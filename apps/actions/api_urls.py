"""Improvement action API under /api/v1/o/<org_slug>/actions/."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(
    r"o/(?P<org_slug>[-\w]+)/actions", api.ImprovementActionViewSet, basename="improvement-action"
)

urlpatterns = router.urls

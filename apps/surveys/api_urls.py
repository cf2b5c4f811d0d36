"""Questionnaire API URLs under /api/v1/o/<org_slug>/."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(
    r"o/(?P<org_slug>[-\w]+)/questionnaires", api.QuestionnaireViewSet, basename="questionnaire"
)
router.register(r"o/(?P<org_slug>[-\w]+)/items", api.ItemViewSet, basename="item")

urlpatterns = router.urls

"""Webhook API URLs under /api/v1/o/<org_slug>/webhooks/."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(r"o/(?P<org_slug>[-\w]+)/webhooks", api.WebhookEndpointViewSet, basename="webhook")

urlpatterns = router.urls

"""Distribution API URLs under /api/v1/o/<org_slug>/: links/, context-attributes/, and for
email: contact-lists/, contacts/, contact-imports/, campaigns/, suppressions/."""

from rest_framework.routers import SimpleRouter

from . import api, email_api

router = SimpleRouter()
router.register(r"o/(?P<org_slug>[-\w]+)/links", api.LinkViewSet, basename="link")
router.register(
    r"o/(?P<org_slug>[-\w]+)/context-attributes",
    api.ContextAttributeViewSet,
    basename="context-attribute",
)
for prefix, viewset, basename in (
    ("contact-lists", email_api.ContactListViewSet, "contact-list"),
    ("contacts", email_api.ContactViewSet, "contact"),
    ("contact-imports", email_api.ContactImportViewSet, "contact-import"),
    ("campaigns", email_api.CampaignViewSet, "campaign"),
    ("suppressions", email_api.SuppressionViewSet, "suppression"),
):
    router.register(rf"o/(?P<org_slug>[-\w]+)/{prefix}", viewset, basename=basename)

urlpatterns = router.urls

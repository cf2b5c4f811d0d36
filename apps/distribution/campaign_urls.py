"""Campaign web URLs under /o/<org_slug>/campaigns/."""

from django.urls import path

from . import campaign_views as views

app_name = "campaigns"

urlpatterns = [
    path("", views.CampaignListView.as_view(), name="list"),
    path("new/", views.CampaignCreateView.as_view(), name="create"),
    path("<int:campaign_id>/", views.CampaignDetailView.as_view(), name="detail"),
    path("<int:campaign_id>/edit/", views.CampaignEditView.as_view(), name="edit"),
    path("<int:campaign_id>/preview/", views.CampaignPreviewView.as_view(), name="preview"),
    path("<int:campaign_id>/send/", views.CampaignSendView.as_view(), name="send"),
    path("<int:campaign_id>/test/", views.CampaignTestView.as_view(), name="test"),
    path("<int:campaign_id>/<slug:verb>/", views.CampaignActionView.as_view(), name="action"),
    path(
        "invitations/<int:survey_invitation_id>/<slug:verb>/",
        views.InvitationActionView.as_view(),
        name="invitation_action",
    ),
]

"""Organisation web URLs under /o/ (invitation links live at /invitations/<token>/, see root)."""

from django.urls import path

from . import views

app_name = "organizations"

urlpatterns = [
    path("", views.organization_choose, name="choose"),
    path("new/", views.organization_create, name="create"),
    path("<slug:org_slug>/", views.OrganizationHomeView.as_view(), name="home"),
    path("<slug:org_slug>/settings/", views.OrganizationSettingsView.as_view(), name="settings"),
    path("<slug:org_slug>/members/", views.MembersView.as_view(), name="members"),
    path(
        "<slug:org_slug>/members/invite/",
        views.InvitationCreateView.as_view(),
        name="invitation_create",
    ),
    path(
        "<slug:org_slug>/members/<int:membership_id>/role/",
        views.MemberRoleView.as_view(),
        name="member_role",
    ),
    path(
        "<slug:org_slug>/members/<int:membership_id>/remove/",
        views.MemberRemoveView.as_view(),
        name="member_remove",
    ),
    path(
        "<slug:org_slug>/invitations/<int:invitation_id>/resend/",
        views.InvitationResendView.as_view(),
        name="invitation_resend",
    ),
    path(
        "<slug:org_slug>/invitations/<int:invitation_id>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("<slug:org_slug>/leave/", views.LeaveView.as_view(), name="leave"),
    path("<slug:org_slug>/api-keys/", views.ApiKeysView.as_view(), name="api_keys"),
    path(
        "<slug:org_slug>/api-keys/<int:key_id>/revoke/",
        views.ApiKeyRevokeView.as_view(),
        name="api_key_revoke",
    ),
]

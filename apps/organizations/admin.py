"""Operator admin for organisations, memberships, invitations and API keys.

Operators look and fix; secrets never show (only hashes are stored), and keys and invitations
are revoked through the product, where it is audited, not edited here.
"""

from django.contrib import admin
from django.http import HttpRequest

from .models import ApiKey, Invitation, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "default_language", "time_zone", "created_at")
    search_fields = ("name", "slug")
    readonly_fields = ("created_at",)
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name", "organization__slug")
    list_select_related = ("user", "organization")
    raw_id_fields = ("user", "organization")


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(_ReadOnlyAdmin):
    list_display = ("email", "organization", "role", "status", "send_count", "expires_at")
    list_filter = ("role",)
    search_fields = ("email", "organization__name", "organization__slug")
    list_select_related = ("organization",)
    exclude = ("token_hash",)


@admin.register(ApiKey)
class ApiKeyAdmin(_ReadOnlyAdmin):
    list_display = ("name", "prefix", "organization", "access", "last_used_at", "revoked_at")
    list_filter = ("access",)
    search_fields = ("name", "prefix", "organization__name", "organization__slug")
    list_select_related = ("organization",)
    exclude = ("key_hash",)

"""Organisations: tenants, memberships and roles, invitations, API keys and permissions."""

from django.apps import AppConfig


class OrganizationsConfig(AppConfig):
    name = "apps.organizations"
    label = "organizations"

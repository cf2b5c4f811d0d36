"""Templates ask the permissions module too: {% if principal|can:"members.manage" %}."""

from django import template

from apps.organizations.permissions import Action, Principal
from apps.organizations.permissions import can as _can

register = template.Library()


@register.filter
def can(principal: Principal | None, action: str) -> bool:
    return _can(principal, Action(action))

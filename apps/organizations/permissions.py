"""The one place that answers "may this principal do this (to this object)?".

Views, the API, templates and services ask `can()` / `require()`; nobody re-implements a rule.
A principal is a member acting through the web or API (a Membership), or a machine acting
through an API key. Object roles: the journey owner, and the touchpoint owner.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from apps.core.errors import PermissionDenied

from .models import ApiAccess, Role

if TYPE_CHECKING:
    from apps.accounts.models import User

    from .models import ApiKey, Membership, Organization


class Action(StrEnum):
    ORG_VIEW = "org.view"
    ORG_EDIT = "org.edit"  # name, time zone, language, scoring settings
    ORG_DELETE = "org.delete"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"  # invite, resend, revoke, change role, remove
    OWNERS_MANAGE = "owners.manage"  # grant or take the owner role
    API_KEYS_MANAGE = "api_keys.manage"
    AUDIT_VIEW = "audit.view"
    # Journeys, questionnaires and results (issues 4 onwards).
    JOURNEY_VIEW = "journey.view"
    JOURNEY_CREATE = "journey.create"
    JOURNEY_EDIT = "journey.edit"
    JOURNEY_ASSIGN_OWNER = "journey.assign_owner"
    RESULTS_VIEW = "results.view"
    EXPORT = "export"
    SCHEDULES_MANAGE = "schedules.manage"
    ALERT_VIEW = "alert.view"
    ALERT_WORK = "alert.work"  # take, resolve, reassign
    ALERT_RULES_MANAGE = "alert.rules_manage"  # a journey's alert rules, SLA, contact questions
    # Email distribution (issue 6). Contact lists hold personal data: managed by analysts and
    # up; viewers see campaign figures only; the suppression list and deliveries whose outcome
    # is uncertain are for admins.
    CONTACTS_MANAGE = "contacts.manage"  # lists, contacts, imports
    CAMPAIGNS_VIEW = "campaigns.view"  # campaign pages and figures, no addresses
    CAMPAIGNS_MANAGE = "campaigns.manage"  # create, edit, test, send, cancel
    DELIVERY_ADMIN = "delivery.admin"  # suppression list, uncertain deliveries
    # Improvement actions (issue 9): everyone who reads results reads them; analysts and up
    # and the journey's owner create and edit them; the action's owner moves it along its
    # workflow and adds notes.
    ACTIONS_VIEW = "actions.view"
    ACTIONS_MANAGE = "actions.manage"  # create, edit, and everything ACTIONS_WORK allows
    ACTIONS_WORK = "actions.work"  # change the status, add a note
    # Webhooks (issue 10): endpoints, their secrets and delivery logs are for admins.
    WEBHOOKS_MANAGE = "webhooks.manage"
    # Privacy (issue 10): the retention period, subject access exports and erasure are for
    # admins; deleting the whole organisation (ORG_DELETE) for owners only.
    PRIVACY_MANAGE = "privacy.manage"


_VIEWER = {
    Action.ORG_VIEW,
    Action.MEMBERS_VIEW,
    Action.JOURNEY_VIEW,
    Action.RESULTS_VIEW,  # dashboards, and downloading reports and exports already made
    Action.ALERT_VIEW,
    Action.CAMPAIGNS_VIEW,
    Action.ACTIONS_VIEW,
}
_ANALYST = _VIEWER | {
    Action.EXPORT,  # produce exports of responses and scores (issue 8)
    Action.JOURNEY_CREATE,
    Action.JOURNEY_EDIT,
    Action.SCHEDULES_MANAGE,
    Action.ALERT_WORK,
    Action.ALERT_RULES_MANAGE,
    Action.CONTACTS_MANAGE,
    Action.CAMPAIGNS_MANAGE,
    Action.ACTIONS_MANAGE,
    Action.ACTIONS_WORK,
}
_ADMIN = _ANALYST | {
    Action.ORG_EDIT,
    Action.MEMBERS_MANAGE,
    Action.API_KEYS_MANAGE,
    Action.AUDIT_VIEW,
    Action.JOURNEY_ASSIGN_OWNER,
    Action.DELIVERY_ADMIN,
    Action.WEBHOOKS_MANAGE,
    Action.PRIVACY_MANAGE,
}
_OWNER = _ADMIN | {Action.ORG_DELETE, Action.OWNERS_MANAGE}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.VIEWER: frozenset(_VIEWER),
    Role.ANALYST: frozenset(_ANALYST),
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(_OWNER),
}

# Machines may automate what an admin does except minting keys and managing people: a key that
# could invite or promote an admin could mint keys through that person.
_API_KEY_READ_WRITE = frozenset(_ADMIN - {Action.API_KEYS_MANAGE, Action.MEMBERS_MANAGE})
_API_KEY_READ_ONLY = frozenset(
    {Action.ORG_VIEW, Action.MEMBERS_VIEW, Action.JOURNEY_VIEW, Action.RESULTS_VIEW,
     Action.EXPORT, Action.ALERT_VIEW, Action.AUDIT_VIEW, Action.CAMPAIGNS_VIEW,
     Action.ACTIONS_VIEW}
)  # fmt: skip

# Actions a journey owner may take on their own journey whatever their role.
_JOURNEY_OWNER = frozenset({Action.JOURNEY_VIEW, Action.JOURNEY_EDIT, Action.RESULTS_VIEW,
                            Action.EXPORT, Action.SCHEDULES_MANAGE, Action.ALERT_VIEW,
                            Action.ALERT_WORK, Action.ALERT_RULES_MANAGE, Action.ACTIONS_VIEW,
                            Action.ACTIONS_MANAGE, Action.ACTIONS_WORK})  # fmt: skip
# ...and a touchpoint owner on their touchpoint's journey and alerts.
_TOUCHPOINT_OWNER = frozenset({Action.JOURNEY_VIEW, Action.RESULTS_VIEW, Action.ALERT_VIEW,
                               Action.ALERT_WORK})  # fmt: skip
# ...and whoever an alert is assigned to, on that alert.
_ALERT_ASSIGNEE = frozenset({Action.ALERT_VIEW, Action.ALERT_WORK})

# ...and the owner of an improvement action on that action.
_ACTION_OWNER = frozenset({Action.ACTIONS_VIEW, Action.ACTIONS_WORK})


@dataclass(frozen=True)
class Principal:
    """Who is acting, in which organisation."""

    organization: "Organization"
    role: str | None = None
    user: "User | None" = None
    membership: "Membership | None" = None
    api_key: "ApiKey | None" = None

    @classmethod
    def for_membership(cls, membership: "Membership") -> "Principal":
        return cls(
            organization=membership.organization,
            role=membership.role,
            user=membership.user,
            membership=membership,
        )

    @classmethod
    def for_api_key(cls, api_key: "ApiKey") -> "Principal":
        return cls(organization=api_key.organization, api_key=api_key)

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name} (cx_{self.api_key.prefix})"
        return self.user.email if self.user is not None else "system"

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None


def _object_roles(
    principal: Principal, obj: Any, wanted: Action | None = None
) -> frozenset[Action]:
    """Extra actions from owning the object's journey or touchpoint (issue 4 adds the models)."""
    user_id = principal.user_id
    if obj is None or user_id is None:
        return frozenset()
    granted: frozenset[Action] = frozenset()
    journey = obj if type(obj).__name__ == "Journey" else getattr(obj, "journey", None)
    if journey is not None and getattr(journey, "owner_id", None) == user_id:
        granted |= _JOURNEY_OWNER
    touchpoint = obj if type(obj).__name__ == "Touchpoint" else getattr(obj, "touchpoint", None)
    if touchpoint is not None and getattr(touchpoint, "owner_id", None) == user_id:
        granted |= _TOUCHPOINT_OWNER
    # Who owns the journey's other touchpoints is a query: asked only when it could matter.
    could_matter = wanted is None or wanted in _TOUCHPOINT_OWNER
    if journey is not None and could_matter and user_id in _touchpoint_owner_ids(journey):
        granted |= _TOUCHPOINT_OWNER - {Action.ALERT_WORK}
    if type(obj).__name__ == "ImprovementAction" and getattr(obj, "owner_id", None) == user_id:
        granted |= _ACTION_OWNER
    if type(obj).__name__ == "Alert" and getattr(obj, "assignee_id", None) == user_id:
        granted |= _ALERT_ASSIGNEE
    return granted


def _touchpoint_owner_ids(journey: Any) -> set[int]:
    owner_ids = getattr(journey, "touchpoint_owner_ids", None)
    return set(owner_ids() if callable(owner_ids) else owner_ids or ())


def actions_for(principal: Principal, obj: Any = None) -> frozenset[Action]:
    if principal.api_key is not None:
        if not principal.api_key.is_active:
            return frozenset()
        if principal.api_key.access == ApiAccess.READ_WRITE:
            return _API_KEY_READ_WRITE
        return _API_KEY_READ_ONLY
    base = ROLE_ACTIONS.get(principal.role or "", frozenset())
    return base | _object_roles(principal, obj)


def can(principal: Principal | None, action: Action, obj: Any = None) -> bool:
    if principal is None:
        return False
    if obj is not None and getattr(obj, "organization_id", principal.organization.pk) != (
        principal.organization.pk
    ):
        return False
    if principal.api_key is not None:
        return action in actions_for(principal, obj)
    if action in ROLE_ACTIONS.get(principal.role or "", ()):
        return True  # the role alone allows it: no need to look up who owns what
    return action in _object_roles(principal, obj, wanted=action)


def require(principal: Principal | None, action: Action, obj: Any = None) -> None:
    if not can(principal, action, obj):
        raise PermissionDenied("You do not have permission to do this.")


def assignable_roles(principal: Principal) -> list[str]:
    """Roles this principal may give to someone (only owners make owners)."""
    if not can(principal, Action.MEMBERS_MANAGE):
        return []
    roles = [Role.ADMIN, Role.ANALYST, Role.VIEWER]
    if can(principal, Action.OWNERS_MANAGE):
        roles.insert(0, Role.OWNER)
    return [str(r) for r in roles]

"""The audit log is append-only, whichever manager or instance method is tried."""

import pytest
from django.db import transaction

from apps.audit.models import AuditEntry
from apps.audit.services import audit_record
from apps.organizations.models import Organization
from apps.organizations.permissions import Principal
from tests.audit.helpers import make_entry
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_audit_record_stores_who_did_what(org, owner):
    principal = Principal.for_membership(MembershipFactory.build(organization=org, user=owner))
    entry = audit_record(
        organization=org, actor=principal, action="organization.settings_changed", target=org,
        data={"changes": {"name": ["Acme", "Acme Oy"]}}, ip_address="198.51.100.7",
    )  # fmt: skip
    assert (entry.actor, entry.actor_label, entry.target_type, entry.target_id) == (
        owner, owner.email, "organizations.organization", str(org.pk),
    )  # fmt: skip


def test_entries_cannot_be_changed_or_deleted(org):
    entry = make_entry(org)
    scoped = AuditEntry.objects.for_organization(org)
    with pytest.raises(TypeError, match="append-only"):
        scoped.update(action="nothing.happened")
    with pytest.raises(TypeError, match="append-only"):
        scoped.filter(pk=entry.pk).delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.unscoped.filter(pk=entry.pk).update(actor_label="someone else")
    with pytest.raises(TypeError, match="append-only"):
        AuditEntry.unscoped.all().delete()
    entry.action = "nothing.happened"
    with pytest.raises(TypeError, match="append-only"):
        entry.save()
    with pytest.raises(TypeError, match="append-only"):
        entry.delete()
    with pytest.raises(TypeError, match="append-only"), transaction.atomic():
        AuditEntry.objects.for_organization(org).bulk_update([entry], ["action"])
    stored = AuditEntry.objects.for_organization(org).get()
    assert stored.action == "member.invited"


def test_entries_leave_only_with_their_organisation(org, other_org):
    make_entry(org)
    kept = make_entry(other_org)
    Organization.objects.filter(pk=org.pk).delete()
    assert list(AuditEntry.unscoped.values_list("pk", flat=True)) == [kept.pk]


def test_deleting_a_person_keeps_their_entries_under_the_recorded_label(org, owner):
    make_entry(org, actor=owner, actor_label=owner.email)
    owner.delete()
    entry = AuditEntry.objects.for_organization(org).get()
    assert entry.actor is None and entry.actor_label.endswith("@example.com")

"""Building audit entries at a chosen time (created_at is set by the database layer)."""

import datetime
from unittest import mock

from apps.audit.models import AuditEntry


def make_entry(organization, *, at=None, **fields):
    values = {
        "actor_label": "owner@acme.example",
        "action": "member.invited",
        "target_type": "organizations.invitation",
        "target_id": "1",
        "target_label": "invitation of new@acme.example",
        "data": {"role": "viewer"},
        "ip_address": "203.0.113.5",
    }
    values.update(fields)
    at = at or datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    with mock.patch("django.utils.timezone.now", return_value=at):
        return AuditEntry.objects.create(organization=organization, **values)

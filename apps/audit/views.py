"""The audit log page: filter, page through and export an organisation's entries."""

import csv
import json
import zoneinfo
from collections.abc import Iterator

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.organizations.base import OrganizationView
from apps.organizations.permissions import Action

from .formatting import csv_cell, data_lines, data_summary
from .forms import AuditFilterForm
from .models import AuditEntry
from .selectors import audit_action_names, audit_entries

PAGE_SIZE = 50


class AuditLogView(OrganizationView):
    actions = {"GET": Action.AUDIT_VIEW}

    def get(self, request: HttpRequest) -> HttpResponseBase:
        filters = AuditFilterForm(request.GET)
        if not filters.is_valid():
            context = self.get_context_data(filters=filters, page=None)
            return render(request, "audit/log.html", context, status=400)
        entries = audit_entries(
            organization=self.organization, **filters.selection(self.organization)
        )
        if request.GET.get("format") == "csv":
            return self._csv(entries.iterator(chunk_size=500))
        page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
        for entry in page:
            entry.summary_lines = data_lines(entry.data)  # type: ignore[attr-defined]
        context = self.get_context_data(
            filters=filters,
            page=page,
            action_names=audit_action_names(organization=self.organization),
            filtered=any(filters.cleaned_data.values()),
        )
        return render(request, "audit/log.html", context)

    def _csv(self, entries: Iterator[AuditEntry]) -> StreamingHttpResponse:
        zone = zoneinfo.ZoneInfo(self.organization.time_zone)
        header = [_("Time"), _("Actor"), _("Action"), _("Target type"), _("Target ID"),
                  _("Target"), _("IP address"), _("Summary"), _("Data")]  # fmt: skip

        def rows() -> Iterator[list[str]]:
            yield header
            for entry in entries:
                yield [csv_cell(cell) for cell in (
                    entry.created_at.astimezone(zone).isoformat(timespec="seconds"),
                    entry.actor_label, entry.action, entry.target_type, entry.target_id,
                    entry.target_label, entry.ip_address, data_summary(entry.data),
                    json.dumps(entry.data, ensure_ascii=False, sort_keys=True),
                )]  # fmt: skip

        writer = csv.writer(_Echo())
        today = timezone.localdate(timezone=zone).isoformat()
        return StreamingHttpResponse(
            (writer.writerow(row) for row in rows()),
            content_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="audit-{self.organization.slug}-{today}.csv"'
                )
            },
        )


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer can stream."""

    def write(self, value: str) -> str:
        return value

"""Reports: dashboards, the gap report, charts (SVG), PDFs, schedules and exports."""

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"

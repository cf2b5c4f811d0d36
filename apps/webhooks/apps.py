"""Webhooks: organisations' endpoints, signed event deliveries, retries and their log."""

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"

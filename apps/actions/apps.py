"""Improvement actions: closing the loop from a blind spot, weak link or priority to a change."""

from django.apps import AppConfig


class ActionsConfig(AppConfig):
    name = "apps.actions"
    label = "actions"

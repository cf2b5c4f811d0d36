"""Responses and answers, and the public pages respondents answer on."""

from django.apps import AppConfig


class ResponsesConfig(AppConfig):
    name = "apps.responses"
    label = "responses"

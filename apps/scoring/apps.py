"""Scoring: daily aggregates of responses, the SCORING.md arithmetic, gap reports, rescoring."""

from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "apps.scoring"
    label = "scoring"

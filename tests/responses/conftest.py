import pytest
from django.core.cache import cache

from tests.distribution.fixtures import (  # noqa: F401
    customer_link,
    employee_link,
    journey,
    make_link,
    questionnaire,
)


@pytest.fixture(autouse=True)
def _respondent_settings(settings):
    """No waiting in tests (one test sets the minimum answering time), fresh rate counters."""
    settings.RESPONDENT_MIN_SECONDS = 0
    cache.clear()
    yield
    cache.clear()

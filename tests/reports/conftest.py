"""Report tests borrow the scoring tests' journey, published questionnaire and response store."""

from tests.scoring.conftest import (  # noqa: F401 - fixtures
    _fresh_cache,
    response_store,
    scoring_journey,
    scoring_questionnaire,
)

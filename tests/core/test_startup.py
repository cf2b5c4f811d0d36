"""The web process freezes what it has loaded, so that full collections do not walk it."""

import gc
import importlib
import sys

import pytest


@pytest.fixture
def unfrozen_after():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_wsgi_module_freezes_what_the_application_loaded(unfrozen_after):
    assert gc.get_freeze_count() == 0
    sys.modules.pop("cxplatform.wsgi", None)
    module = importlib.import_module("cxplatform.wsgi")
    assert callable(module.application)
    assert gc.get_freeze_count() > 10_000
    from apps.reports.dashboard import JourneyDashboard

    created_after = [JourneyDashboard]
    walked = {id(o) for o in gc.get_objects()}
    # The views (loaded with the URLconf) are frozen: a collection no longer walks them; what
    # requests create afterwards is collected as usual.
    assert id(JourneyDashboard) not in walked and id(created_after) in walked

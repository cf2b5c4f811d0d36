"""Production settings plus the bench's URLs (the baseline view); nothing else differs.

Static files: the manifest storage needs `collectstatic`; the bench's requests render no page
on success, but an error page must not turn into a 500 over a missing manifest.
"""

import os

from cxplatform.settings.production import *  # noqa: F403
from cxplatform.settings.production import STORAGES

ROOT_URLCONF = "bench.urls"
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The dashboard bench runs one process per scale on one Redis database: each its own keys.
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": os.environ.get("BENCH_CACHE_PREFIX", "")}}  # noqa: F405

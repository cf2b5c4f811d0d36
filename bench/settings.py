"""Production settings plus the bench's URLs (the baseline view); nothing else differs.

Static files: the manifest storage needs `collectstatic`; the bench's requests render no page
on success, but an error page must not turn into a 500 over a missing manifest.
"""

from cxplatform.settings.production import *  # noqa: F403
from cxplatform.settings.production import STORAGES

ROOT_URLCONF = "bench.urls"
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

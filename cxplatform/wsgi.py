"""WSGI entry point (gunicorn)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cxplatform.settings.local")
application = get_wsgi_application()

from apps.core.startup import freeze_loaded_objects  # noqa: E402 - needs the loaded apps

freeze_loaded_objects()

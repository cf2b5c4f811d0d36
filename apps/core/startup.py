"""What a web process does once, after loading the application and before serving requests."""

import gc

from django.urls import get_resolver


def freeze_loaded_objects() -> None:
    """Load the URLconf (and with it every view module), then move every object alive now into
    the garbage collector's permanent generation (`gc.freeze`).

    Django, the project and its libraries (scipy, numpy) keep a couple of hundred thousand
    container objects for the process's life. Unfrozen, every full collection walked them all:
    about 100 ms on a bench machine, spent inside whichever request happened to trigger it (a
    few of the dashboard's requests in every run, bench/README.md). Frozen, a full collection
    walks what requests create. With gunicorn's `preload_app`, the workers forked from the
    master also keep sharing those pages instead of copying each one the collector touches."""
    get_resolver().url_patterns  # noqa: B018 - imports the views
    gc.collect()
    gc.freeze()

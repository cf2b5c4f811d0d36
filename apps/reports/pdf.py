"""PDF rendering with WeasyPrint: templates in, bytes out, fonts embedded, no network.

Static files (the print stylesheet, the vendored Noto Sans) are read through Django's static
finders or the collected static root, so a report renders the same in a worker on any host and
never fetches anything from the network.
"""

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.template.loader import render_to_string

# Relative URLs in report templates resolve against this base; the fetcher maps it to the
# static files and refuses every other URL (".invalid" can never be a real host).
STATIC_BASE_URL = "https://static.invalid/"


def static_path(relative: str) -> Path | None:
    try:
        found = finders.find(relative)
    except SuspiciousFileOperation:
        return None
    if found:
        return Path(found if isinstance(found, str) else found[0])
    root = getattr(settings, "STATIC_ROOT", None)
    if root:
        candidate = (Path(root) / relative).resolve()
        if candidate.is_file() and candidate.is_relative_to(Path(root).resolve()):
            return candidate
    return None


_MIME_TYPES = {
    ".css": "text/css",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def _static_fetcher() -> Any:
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        """Serve URLs under STATIC_BASE_URL (the templates' relative URLs) from the static
        files; refuse the rest, so that rendering a report can never make a request."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            parsed = urlparse(url)
            if url.startswith(STATIC_BASE_URL):
                path = static_path(parsed.path.lstrip("/"))
                if path is not None:
                    return URLFetcherResponse(
                        url,
                        body=path.read_bytes(),
                        headers={
                            "Content-Type": _MIME_TYPES.get(path.suffix, "application/octet-stream")
                        },
                    )
            raise ValueError(f"PDF reports load no external resources: {url}")

    return StaticOnlyFetcher(fail_on_errors=True)


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """Render a template (extending reports/pdf_base.html) to PDF bytes."""
    return html_to_pdf(render_to_string(template_name, context))


def html_to_pdf(html: str, **options: Any) -> bytes:
    from weasyprint import HTML  # imported here: it is heavy and only workers render PDFs

    return HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=_static_fetcher()).write_pdf(
        **options
    )

"""The baseline: a bare Django view that parses the submission's body and stores it, one INSERT.

It runs behind the same gunicorn as the real form and the project's full middleware stack (the
respondent pages under /s/ step over session, authentication and messages; this view does
not), so the gap between the two is what the respondent code costs (link lookup, rate limits,
stamp, validation, the response and answer INSERT, the queued task), not the web stack.
"""

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_baseline ("
    " id bigserial PRIMARY KEY, payload jsonb NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now())"
)


@csrf_exempt
@require_POST
def baseline(request: HttpRequest) -> HttpResponse:
    payload = {name: request.POST.getlist(name) for name in request.POST}
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (payload) VALUES (%s)", [json.dumps(payload)])
    return HttpResponse(status=204)

"""Webhook reads: endpoints, their deliveries with the attempt log, and the data of events."""

from collections import defaultdict
from typing import Any

from django.db.models import Prefetch, QuerySet

from apps.organizations.models import Organization

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def endpoints(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_organization(organization).order_by("created_at", "id")


def endpoint_get(*, organization: Organization, endpoint_id: int) -> WebhookEndpoint | None:
    return endpoints(organization=organization).filter(pk=endpoint_id).first()


def deliveries(*, organization: Organization, endpoint: WebhookEndpoint) -> QuerySet[Any]:
    """Newest first, each with its event and its attempts in order: three queries a page."""
    attempts = WebhookAttempt.objects.for_organization(organization).order_by("number", "id")
    return (
        WebhookDelivery.objects.for_organization(organization)
        .filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(Prefetch("attempt_log", queryset=attempts))
        .order_by("-created_at", "-id")
    )


def response_event_payloads(*, organization_id: int, response_ids: list[int]) -> list[dict]:
    """The `data` of a `response.submitted` event per response, in two queries.

    Customers' answers go with it (item key, value or "not applicable", text). An employee's
    response says which questionnaire, which audience and which day: nothing that could tell
    who answered (no id, time, link, segment or answers).
    """
    from apps.responses.models import Answer, Response
    from apps.surveys.models import Audience

    rows = list(
        Response.objects.for_organization(organization_id)
        .filter(pk__in=response_ids)
        .order_by("id")
        .values(
            "id",
            "audience",
            "submitted_on",
            "submitted_at",
            "language",
            "link_id",
            "segment",
            "questionnaire_id",
            "questionnaire__name",
            "questionnaire__journey_id",
        )
    )
    customer_ids = [row["id"] for row in rows if row["audience"] == Audience.CUSTOMER]
    answers: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if customer_ids:
        for answer in (
            Answer.objects.for_organization(organization_id)
            .filter(response_id__in=customer_ids)
            .order_by("response_id", "id")
            .values("response_id", "item__key", "value", "not_applicable", "text", "choices")
        ):
            answers[answer["response_id"]].append(
                {
                    "item": answer["item__key"],
                    "value": answer["value"],
                    "not_applicable": answer["not_applicable"],
                    "text": answer["text"],
                    "choices": answer["choices"],
                }
            )
    payloads = []
    for row in rows:
        questionnaire = {
            "id": row["questionnaire_id"],
            "name": row["questionnaire__name"],
            "journey": row["questionnaire__journey_id"],
        }
        if row["audience"] != Audience.CUSTOMER:
            payloads.append(
                {"questionnaire": questionnaire, "audience": row["audience"],
                 "day": row["submitted_on"]}
            )  # fmt: skip
            continue
        payloads.append(
            {
                "response": row["id"],
                "questionnaire": questionnaire,
                "audience": row["audience"],
                "day": row["submitted_on"],
                "submitted_at": row["submitted_at"],
                "language": row["language"],
                "link": row["link_id"],
                "segment": row["segment"] or {},
                "answers": answers.get(row["id"], []),
            }
        )
    return payloads

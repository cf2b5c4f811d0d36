"""Response background work: queued after a response is committed."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def process_response(*, organization_id: int, response_id: int) -> bool:
    """Score a stored response. Scoring is a later issue: until then the response is only
    announced, and stays unprocessed (`processed_at` NULL) for the pipeline to pick up."""
    logger.info(
        "response queued for processing",
        extra={"organization_id": organization_id, "response_id": response_id},
    )
    return True

"""The Celery app. Without REDIS_URL, tasks run eagerly in the caller (the demo default)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ratecard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# the request id travels from a request into the tasks it queues (signals connected on import)
import config.request_context  # noqa: E402, F401


@signals.setup_logging.connect(dispatch_uid="ratecard.logging")
def _django_logging(**_kwargs: object) -> None:
    """Workers log as the web does (structlog, JSON with LOG_FORMAT=json, the request id as a field):
    a receiver here stops Celery from replacing the root logger's handlers with its own format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)

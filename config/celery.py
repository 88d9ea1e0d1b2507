"""The Celery app. Without REDIS_URL, tasks run eagerly in the caller (the demo default)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ratecard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# the request id travels from a request into the tasks it queues (signals connected on import)
import config.request_context  # noqa: E402, F401

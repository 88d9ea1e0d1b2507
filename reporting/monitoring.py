"""What reporting tells operations: the open alert incidents per rule (``config.monitoring``)."""

from __future__ import annotations

from django.db.models import Count

from config.monitoring import Sample, db_gauge
from reporting.models import AlertIncident


@db_gauge("ratecard_alert_incidents_open", "Open alert incidents per rule.", labels=("rule",))
def open_incidents() -> list[Sample]:
    rows = (
        AlertIncident.objects.filter(status=AlertIncident.Status.OPEN).values("rule").annotate(n=Count("id"))
    )
    return [Sample(n, {"rule": rule}) for rule, n in rows.order_by("rule").values_list("rule", "n")]

"""Alert incidents: every rule declared with ``@alert_rule`` (the apps' ``monitoring.py``) evaluated by a
beat task; finance mailed once per incident; the incident cleared when its rule no longer finds it.

- ``alerts_evaluate`` runs each rule at ``now``. A finding without an open incident for its (rule,
  subject) opens one (the partial unique index keeps it to one, whoever evaluates at the same time) and
  queues its e-mail after commit; a finding with one refreshes it (message, customers, last seen); an
  open incident whose finding is gone is cleared. A rule that raises leaves its incidents as they are
  (an error in a check is not "fixed") and is logged.
- ``alert_incident_notify`` sends an incident's e-mail once: under the row's lock, only while
  ``notified_at`` is empty. A failed send is kept in ``notify_error`` and tried again at the next
  evaluation (the row is the outbox). Recipients: ``RATECARD_ALERT_EMAILS``, else the active finance
  users with an e-mail address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer
from accounts.roles import FINANCE
from config.monitoring import AlertRule, Finding, alert_rules, counter
from config.tasks_queue import task_enqueue
from reporting.models import AlertIncident

log = structlog.get_logger(__name__)

RUNBOOK = Path(settings.BASE_DIR) / "docs" / "runbook.md"
NOTIFY_RETRY_AFTER = timedelta(minutes=2)
MAX_NOTIFY_ATTEMPTS = 10

NOTIFICATIONS = counter(
    "ratecard_alert_notifications_total", "Alert e-mails sent, per rule and outcome.", ("rule", "outcome")
)


@dataclass
class Evaluation:
    opened: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    still_open: list[int] = field(default_factory=list)
    failed_rules: list[str] = field(default_factory=list)


def alerts_evaluate(*, now: datetime | None = None, rules: list[str] | None = None) -> Evaluation:
    """Evaluate every rule (or those named) at ``now`` (module docs)."""
    now = now or timezone.now()
    out = Evaluation()
    for rule in alert_rules():
        if rules is not None and rule.code not in rules:
            continue
        try:
            findings = rule.check(now)
        except Exception as exc:  # one broken check must not stop the others
            log.error("alert.rule_failed", rule=rule.code, error=f"{exc.__class__.__name__}: {exc}")
            out.failed_rules.append(rule.code)
            continue
        _apply(rule, findings, now, out)
    _retry_notifications(now)
    return out


def _apply(rule: AlertRule, findings: list[Finding], now: datetime, out: Evaluation) -> None:
    by_subject = {finding.subject: finding for finding in findings}
    with transaction.atomic():
        open_now = {
            incident.subject: incident
            for incident in AlertIncident.objects.select_for_update()
            .filter(rule=rule.code, status=AlertIncident.Status.OPEN)
            .order_by("pk")
        }
        for subject, incident in open_now.items():
            finding = by_subject.get(subject)
            if finding is None:
                incident.status = AlertIncident.Status.CLEARED
                incident.cleared_at = now
                incident.save(update_fields=["status", "cleared_at"])
                out.cleared.append(incident.pk)
                log.info("alert.cleared", rule=rule.code, subject=subject, incident_id=incident.pk)
                continue
            incident.message = finding.message
            incident.customer_ids = list(finding.customer_ids)
            incident.url = finding.url
            incident.last_seen_at = now
            incident.save(update_fields=["message", "customer_ids", "url", "last_seen_at"])
            out.still_open.append(incident.pk)
        for subject, finding in by_subject.items():
            if subject in open_now:
                continue
            opened = _open(rule, finding, now)
            if opened is not None:
                out.opened.append(opened.pk)


def _open(rule: AlertRule, finding: Finding, now: datetime) -> AlertIncident | None:
    try:
        with transaction.atomic():
            incident = AlertIncident.objects.create(
                rule=rule.code,
                subject=finding.subject,
                title=rule.title,
                severity=rule.severity,
                message=finding.message,
                customer_ids=list(finding.customer_ids),
                url=finding.url,
                runbook=rule.runbook,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:  # another evaluator opened it a moment ago: theirs is the incident
        return None
    incident_id = incident.pk
    transaction.on_commit(lambda: task_enqueue("reporting.tasks.alert_incident_notify", incident_id))
    log.warning(
        "alert.opened",
        rule=rule.code,
        subject=finding.subject,
        incident_id=incident_id,
        customer_ids=list(finding.customer_ids)[:20],
        message=finding.message,
    )
    return incident


def _retry_notifications(now: datetime) -> None:
    """Open incidents whose e-mail did not leave (a lost task, a mail server down) are sent again."""
    due = AlertIncident.objects.filter(
        status=AlertIncident.Status.OPEN,
        notified_at__isnull=True,
        opened_at__lt=now - NOTIFY_RETRY_AFTER,
        notify_attempts__lt=MAX_NOTIFY_ATTEMPTS,
    ).values_list("pk", flat=True)
    for incident_id in due:
        task_enqueue("reporting.tasks.alert_incident_notify", incident_id)


def alert_recipients() -> list[str]:
    if settings.RATECARD_ALERT_EMAILS:
        return list(settings.RATECARD_ALERT_EMAILS)
    return sorted(
        set(
            User.objects.filter(is_active=True, groups__name=FINANCE)
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def runbook_section(code: str) -> str:
    """The text of ``docs/runbook.md``'s section for a rule (its heading starts with ``## <code>``)."""
    try:
        text = RUNBOOK.read_text(encoding="utf-8")
    except OSError:
        return ""
    lines: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip().strip("`").startswith(code)
        if inside:
            lines.append(line)
    return "\n".join(lines).strip()


def incident_customers(incident: AlertIncident) -> list[Customer]:
    return list(Customer.objects.filter(pk__in=incident.customer_ids).order_by("name", "pk"))


def _body(incident: AlertIncident) -> str:
    customers = incident_customers(incident)
    who = ", ".join(f"{c.name} ({c.external_id})" for c in customers) or "none named"
    return (
        f"{incident.title}\n\n{incident.message}\n\nCustomers: {who}\n"
        f"Opened: {incident.opened_at:%Y-%m-%d %H:%M:%S} UTC\n"
        f"{'Where to look: ' + incident.url if incident.url else ''}\n\n"
        f"Runbook (docs/runbook.md):\n\n{runbook_section(incident.runbook) or incident.runbook}\n\n"
        "You get one e-mail per incident; the admin (Reports > Alert incidents) shows it until it clears.\n"
    )


def alert_incident_notify(*, incident_id: int) -> bool:
    """Send an incident's e-mail if it has not left yet; True when this call sent it."""
    with transaction.atomic():
        incident = (
            AlertIncident.objects.select_for_update(skip_locked=True)
            .filter(pk=incident_id, notified_at__isnull=True)
            .first()
        )
        if incident is None:
            return False
        recipients = alert_recipients()
        incident.notify_attempts += 1
        try:
            if recipients:
                send_mail(
                    subject=f"[Ratecard {incident.severity}] {incident.title}: {incident.subject}"[:200],
                    message=_body(incident),
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    recipient_list=recipients,
                )
        except Exception as exc:  # the mail server is down: kept, tried again at the next evaluation
            incident.notify_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            incident.save(update_fields=["notify_attempts", "notify_error"])
            NOTIFICATIONS.labels(incident.rule, "failed").inc()
            log.error("alert.notify_failed", incident_id=incident.pk, error=incident.notify_error)
            return False
        incident.notified_at = timezone.now()
        incident.notify_error = "" if recipients else "no recipients: set RATECARD_ALERT_EMAILS"
        incident.save(update_fields=["notified_at", "notify_attempts", "notify_error"])
    NOTIFICATIONS.labels(incident.rule, "sent" if recipients else "no_recipients").inc()
    log.info("alert.notified", incident_id=incident.pk, rule=incident.rule, recipients=len(recipients))
    return True

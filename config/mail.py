"""E-mail settings from the environment: ``EMAIL_URL`` or the usual ``EMAIL_*`` variables.

``EMAIL_URL`` examples: ``smtp://user:pass@mail.example:587?tls=1`` (STARTTLS), ``smtps://user:pass@host``
(TLS from the start, port 465), ``submission://user:pass@host`` (port 587, STARTTLS), ``consolemail://``
(print e-mails), ``filemail:///var/mail/ratecard`` (one file per e-mail), ``memorymail://``,
``dummymail://`` (drop them). User and password are URL-encoded; ``?timeout=10`` sets the SMTP timeout.
Without ``EMAIL_URL``, ``EMAIL_HOST`` (with ``EMAIL_PORT``, ``EMAIL_HOST_USER``, ``EMAIL_HOST_PASSWORD``,
``EMAIL_USE_TLS``, ``EMAIL_USE_SSL``, ``EMAIL_TIMEOUT``) selects SMTP; with neither, e-mails go to the
console (the demo). ``EMAIL_BACKEND`` names any backend explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SMTP = "django.core.mail.backends.smtp.EmailBackend"
BACKENDS = {
    "consolemail": "django.core.mail.backends.console.EmailBackend",
    "filemail": "django.core.mail.backends.filebased.EmailBackend",
    "memorymail": "django.core.mail.backends.locmem.EmailBackend",
    "dummymail": "django.core.mail.backends.dummy.EmailBackend",
}
# scheme -> (default port, STARTTLS, implicit TLS)
SMTP_SCHEMES = {
    "smtp": (25, False, False),
    "smtp+tls": (587, True, False),
    "submission": (587, True, False),
    "smtps": (465, False, True),
    "smtp+ssl": (465, False, True),
}
TRUE = {"1", "true", "yes", "on"}
DEFAULT_TIMEOUT = 10  # seconds: a mail server that hangs must not hold a worker for long


@dataclass(frozen=True)
class MailSettings:
    backend: str
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    timeout: int = DEFAULT_TIMEOUT
    file_path: str = ""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


def parse_email_url(url: str) -> MailSettings:
    """``EMAIL_URL`` -> the settings it stands for (module docs); ``ImproperlyConfigured`` when unknown."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    timeout = int(query.get("timeout", DEFAULT_TIMEOUT))
    if scheme in BACKENDS:
        return MailSettings(backend=BACKENDS[scheme], file_path=unquote(parts.path), timeout=timeout)
    if scheme not in SMTP_SCHEMES:
        known = ", ".join(sorted([*SMTP_SCHEMES, *BACKENDS]))
        raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {parts.scheme!r} (one of {known}).")
    port, tls, ssl = SMTP_SCHEMES[scheme]
    try:
        port = parts.port or port
    except ValueError as exc:
        raise ImproperlyConfigured(f"EMAIL_URL: {exc}.") from exc
    use_ssl = ssl or _flag(query.get("ssl"))
    return MailSettings(
        backend=SMTP,
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=(tls or _flag(query.get("tls"))) and not use_ssl,
        use_ssl=use_ssl,
        timeout=timeout,
    )


def mail_settings(environ: Mapping[str, str]) -> MailSettings:
    """The e-mail settings the environment asks for: ``EMAIL_URL``, else ``EMAIL_HOST``, else the console."""
    explicit = environ.get("EMAIL_BACKEND", "")
    if environ.get("EMAIL_URL"):
        found = parse_email_url(environ["EMAIL_URL"])
    elif environ.get("EMAIL_HOST"):
        found = MailSettings(
            backend=SMTP,
            host=environ["EMAIL_HOST"],
            port=int(environ.get("EMAIL_PORT") or 25),
            user=environ.get("EMAIL_HOST_USER", ""),
            password=environ.get("EMAIL_HOST_PASSWORD", ""),
            use_tls=_flag(environ.get("EMAIL_USE_TLS")),
            use_ssl=_flag(environ.get("EMAIL_USE_SSL")),
            timeout=int(environ.get("EMAIL_TIMEOUT") or DEFAULT_TIMEOUT),
        )
    else:
        found = MailSettings(backend=BACKENDS["consolemail"])
    if explicit:
        return MailSettings(**{**found.__dict__, "backend": explicit})
    return found

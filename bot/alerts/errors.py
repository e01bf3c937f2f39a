"""Errors raised by the alerts package.

AlertError              anything this package raises on purpose; the message is for a person
└── MalformedWebhook    a webhook body we cannot act on: the endpoint answers 400 with the reason
"""

from __future__ import annotations


class AlertError(Exception):
    """Base class: the message says what is wrong in words a person can act on."""


class MalformedWebhook(AlertError):
    """The body is not JSON, is the legacy plugin format, misses a field we need, carries an
    unknown action or does not match its ``Sentry-Hook-Resource`` header.

    ``reason`` is meant for the 400 body and the log: it names the fields at fault and quotes at
    most a shortened unknown action or resource, never issue titles or other payload text.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

"""What a digest is, between the code that builds it and the code that posts it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Post:
    """One Slack message: ``text`` for notifications, ``blocks`` (dicts, already validated)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Digest:
    """A digest for one scope: the ``main`` message and the ``thread`` replies with the details.

    ``fingerprint`` hashes the facts it reports: equal fingerprints mean nothing changed since the
    last one. ``quiet`` says so in one line (``main`` is then that line, ``thread`` empty).
    """

    main: Post
    thread: list[Post]
    fingerprint: str
    quiet: bool = False

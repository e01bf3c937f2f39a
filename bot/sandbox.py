"""The sandbox organisation served over real HTTP: the three fakes, started together.

Used by `sitrep sandbox serve`, `sitrep demo`, the end-to-end tests and bench/sync.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from collectors.fakes import FakeServer, Faults
from collectors.github import fake as github_fake
from collectors.jira import fake as jira_fake
from collectors.sandbox.generator import generate
from collectors.sandbox.world import World
from collectors.sentry import fake as sentry_fake

FAKES = {"sentry": sentry_fake, "jira": jira_fake, "github": github_fake}


@dataclass
class Sandbox:
    world: World
    servers: dict[str, FakeServer]

    def env(self) -> dict[str, str]:
        """The environment variables that point every collector at its fake."""
        env: dict[str, str] = {}
        for name, server in self.servers.items():
            env |= FAKES[name].sandbox_env(server.url)
        return env

    @property
    def requests(self) -> int:
        return sum(server.requests for server in self.servers.values())

    @property
    def faults_injected(self) -> int:
        return sum(server.injector.injected for server in self.servers.values())


@contextmanager
def running_sandbox(
    *,
    size: str = "small",
    seed: int = 7,
    now: dt.datetime | None = None,
    faults: Faults | None = None,
    world: World | None = None,
    host: str = "127.0.0.1",
    first_port: int = 0,
) -> Iterator[Sandbox]:
    """Start the fakes (ports from ``first_port``, or free ones with 0) and stop them after."""
    world = world or generate(size, seed=seed, now=now)
    servers: dict[str, FakeServer] = {}
    try:
        for offset, (name, module) in enumerate(FAKES.items()):
            port = first_port + offset if first_port else 0
            servers[name] = FakeServer(
                module.create_app(world), faults=faults, host=host, port=port
            ).start()
        yield Sandbox(world, servers)
    finally:
        for server in servers.values():
            server.stop()

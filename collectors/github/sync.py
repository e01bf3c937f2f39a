"""The GitHub collector: one scope per stream of each mapped repo.

Scopes are ``<owner/name>:pulls``, ``:deployments``, ``:workflow_runs`` and ``:releases``, so that
each can be answered by a single conditional request when nothing changed (see `streams`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session

from collectors.base import ScopeProgress, SyncContext
from collectors.errors import NotConfigured
from collectors.github.client import DEFAULT_API_URL, SOURCE, GitHubClient
from collectors.github.streams import DeploymentStream, PullStream, ReleaseStream, WorkflowRunStream
from collectors.http import RetryPolicy
from storage.sync_state import mapped_keys

STREAMS = ("pulls", "deployments", "workflow_runs", "releases")
DEFAULT_DEPLOY_WORKFLOW_PATTERN = "(?i)deploy"
WORKERS = 8  # concurrent per-PR and per-deployment requests


class GitHubCollector:
    """Syncs pull requests (with reviews), deployments, deploy workflow runs and releases."""

    source = SOURCE

    def __init__(
        self,
        client: GitHubClient,
        *,
        deploy_workflow: re.Pattern[str] | None = None,
        workers: int = WORKERS,
    ) -> None:
        self.client = client
        self.deploy_workflow = deploy_workflow or re.compile(DEFAULT_DEPLOY_WORKFLOW_PATTERN)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="github")

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> GitHubCollector:
        """Configure from ``GITHUB_TOKEN``, ``GITHUB_API_URL`` (default api.github.com) and
        ``SITREP_DEPLOY_WORKFLOW_PATTERN`` (a regex on workflow names; default ``(?i)deploy``)."""
        token = env.get("GITHUB_TOKEN", "").strip()
        if not token:
            raise NotConfigured(
                SOURCE,
                "set GITHUB_TOKEN (a token that can read the repos' pull requests, deployments, "
                "actions and releases); GITHUB_API_URL is optional (GitHub Enterprise).",
            )
        pattern = env.get("SITREP_DEPLOY_WORKFLOW_PATTERN") or DEFAULT_DEPLOY_WORKFLOW_PATTERN
        try:
            deploy_workflow = re.compile(pattern)
        except re.error as exc:
            raise NotConfigured(
                SOURCE, f"SITREP_DEPLOY_WORKFLOW_PATTERN {pattern!r} is not a valid regex ({exc})."
            ) from None
        base_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        policy = policy or RetryPolicy.from_env(env)  # SITREP_HTTP_ATTEMPTS, SITREP_HTTP_BACKOFF
        client = GitHubClient(base_url, token, policy=policy, sleep=sleep)
        return cls(client, deploy_workflow=deploy_workflow)

    @property
    def requests(self) -> int:
        return self.client.requests

    def scopes(self, session: Session) -> list[str]:
        """Four scopes per repo mapped to an active product."""
        return [
            f"{repo}:{stream}" for repo in mapped_keys(session, "github_repo") for stream in STREAMS
        ]

    def stages(self, scopes: list[str]) -> list[list[str]]:
        """One stage: every stream of every repo writes rows of its own."""
        return [scopes]

    def sync_scope(self, scope: str, ctx: SyncContext, progress: ScopeProgress) -> int:
        repo, _, stream = scope.rpartition(":")
        args = (self.client, self._pool, repo, scope, ctx, progress)
        if stream == "pulls":
            return PullStream(*args).run()
        if stream == "deployments":
            return DeploymentStream(*args).run()
        if stream == "workflow_runs":
            return WorkflowRunStream(*args, pattern=self.deploy_workflow).run()
        if stream == "releases":
            return ReleaseStream(*args).run()
        raise ValueError(
            f"unknown github scope {scope!r}; expected <owner/name>:<{'|'.join(STREAMS)}>"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

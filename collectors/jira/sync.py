"""The Jira collector: which scopes to sync, and the ``fields`` and ``board:<id>`` scopes.

Scopes run in this order:

- ``fields``: finds the site's story-point and sprint custom fields (their ids differ per site)
  and the API user's time zone (JQL dates are read in it); saved as this scope's cursor, which
  the project scopes read;
- ``board:<id>`` per mapped board: the board and all its sprints (before the projects, so
  sprint memberships find their sprints in storage);
- ``project:<KEY>`` per mapped project: issues and what hangs off them (`sync_issues`).

Requests when nothing changed: ``fields`` one (the field list; the time zone is refreshed on
a full sync), a board one (its sprint list), a project one (the overlap-window search).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from collectors.base import ScopeProgress, SyncContext
from collectors.errors import NotConfigured, SourceError
from collectors.http import RetryPolicy
from collectors.jira import mapping
from collectors.jira.client import SEARCH_PAGE, JiraClient
from collectors.jira.sync_issues import FLUSH_ISSUES, ProjectSync, SiteSettings, save_cursor
from storage import sync_state
from storage.models import Board, Sprint
from storage.repository import ids_by_external_id, upsert_rows

SOURCE = mapping.SOURCE
FIELDS_SCOPE = "fields"
ENV = ("JIRA_URL", "JIRA_EMAIL", "JIRA_TOKEN")


class JiraCollector:
    """Syncs mapped Jira boards and projects into the domain tables."""

    source = SOURCE

    def __init__(
        self,
        client: JiraClient,
        *,
        flush_issues: int = FLUSH_ISSUES,
        page_size: int = SEARCH_PAGE,
    ) -> None:
        self.client = client
        self.flush_issues = flush_issues  # issues per committed checkpoint
        self.page_size = page_size  # issues per search request (Jira allows up to 100)
        self._settings: SiteSettings | None = None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JiraCollector:
        """Configured from JIRA_URL, JIRA_EMAIL and JIRA_TOKEN; `NotConfigured` if any is unset."""
        missing = [name for name in ENV if not env.get(name, "").strip()]
        if missing:
            raise NotConfigured(
                SOURCE,
                f"not configured: set {', '.join(missing)} (JIRA_URL is the site, e.g. "
                "https://acme.atlassian.net; JIRA_TOKEN an API token of the JIRA_EMAIL account).",
            )
        policy = policy or RetryPolicy.from_env(env)  # SITREP_HTTP_ATTEMPTS, SITREP_HTTP_BACKOFF
        client = JiraClient(
            env["JIRA_URL"].strip(),
            env["JIRA_EMAIL"].strip(),
            env["JIRA_TOKEN"].strip(),
            policy=policy,
            sleep=sleep,
        )
        return cls(client)

    @property
    def requests(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()

    def scopes(self, session: Session) -> list[str]:
        """``fields``, then one scope per mapped board, then one per mapped project."""
        boards = sorted(
            sync_state.mapped_keys(session, "jira_board"),
            key=lambda k: (0, int(k), k) if k.isdigit() else (1, 0, k),
        )
        projects = sync_state.mapped_keys(session, "jira_project")
        if not boards and not projects:
            return []
        return [
            FIELDS_SCOPE,
            *(f"board:{b}" for b in boards),
            *(f"project:{p}" for p in projects),
        ]

    def stages(self, scopes: list[str]) -> list[list[str]]:
        """``fields``, then the boards one at a time (a sprint shared by boards belongs to the
        one it was created on, which must not depend on which board's sync commits last), then
        the projects side by side (each writes only its own issues)."""
        projects = [s for s in scopes if s.startswith("project:")]
        return [[s] for s in scopes if s not in projects] + [projects]

    def sync_scope(self, scope: str, ctx: SyncContext, progress: ScopeProgress) -> int:
        kind, _, key = scope.partition(":")
        if scope == FIELDS_SCOPE:
            self._settings = self._sync_fields(ctx, progress)
            return 0
        if kind == "board" and key.isdigit():
            return self._sync_board(int(key), scope, ctx, progress)
        if kind == "project" and key:
            settings = self._site_settings(ctx, progress)
            run = ProjectSync(
                self.client,
                settings,
                key,
                scope,
                ctx,
                progress,
                flush_issues=self.flush_issues,
                page_size=self.page_size,
            )
            return run.run()
        raise SourceError(SOURCE, f"unknown scope {scope!r}")

    # ------------------------------------------------------------ fields

    def _sync_fields(self, ctx: SyncContext, progress: ScopeProgress) -> SiteSettings:
        progress.total(1)
        with ctx.transaction() as session:
            cursor = sync_state.get_cursor(session, source=SOURCE, scope=FIELDS_SCOPE)
        fields = mapping.discover_fields(self.client.fields())
        time_zone = None if ctx.full or cursor is None else cursor.get("time_zone")
        if not time_zone:
            time_zone = str(self.client.myself().get("timeZone") or "UTC")
        with ctx.transaction() as session:
            new = {
                "story_points": fields.story_points,
                "sprint": fields.sprint,
                "time_zone": time_zone,
            }
            save_cursor(session, FIELDS_SCOPE, new, None if ctx.full else cursor)
        progress.advance(1)
        return SiteSettings(fields, time_zone)

    def _site_settings(self, ctx: SyncContext, progress: ScopeProgress) -> SiteSettings:
        if self._settings is not None:
            return self._settings
        with ctx.transaction() as session:
            cursor = sync_state.get_cursor(session, source=SOURCE, scope=FIELDS_SCOPE)
        if cursor is None or not cursor.get("time_zone"):
            self._settings = self._sync_fields(ctx, progress)
        else:
            self._settings = SiteSettings(
                mapping.FieldIds(cursor.get("story_points"), cursor.get("sprint")),
                str(cursor["time_zone"]),
            )
        return self._settings

    # ------------------------------------------------------------ boards

    def _sync_board(
        self, board_id: int, scope: str, ctx: SyncContext, progress: ScopeProgress
    ) -> int:
        base = self.client.base_url
        external = str(board_id)
        with ctx.transaction() as session:
            cursor = sync_state.get_cursor(session, source=SOURCE, scope=scope)
            stored = ids_by_external_id(session, Board, SOURCE, [external])
        info: dict[str, Any] | None = None
        if cursor is not None and not ctx.full and external in stored:
            info = cursor.get("board")
        board_row = None
        if info is None:
            # The board itself rarely changes: fetched on the first and on full syncs only.
            board_row = mapping.to_board(self.client.board(board_id), base)
            info = {"type": board_row["type"], "url": board_row["url"]}
        progress.total(None)
        # Kanban boards have no sprints (Jira answers 400 if asked).
        sprints = [] if info.get("type") == "kanban" else list(self.client.iter_sprints(board_id))
        written = 0
        with ctx.transaction() as session:
            if board_row is not None:
                written += upsert_rows(session, Board, [board_row]).written
                ctx.count("boards", written)
            origins = {external} | {
                str(s["originBoardId"]) for s in sprints if s.get("originBoardId")
            }
            board_ids = ids_by_external_id(session, Board, SOURCE, origins)
            rows = [
                mapping.to_sprint(
                    sprint,
                    # A sprint shared by boards belongs to the board it was created on.
                    board_ids.get(str(sprint.get("originBoardId")), board_ids[external]),
                    str(info["url"]),
                )
                for sprint in sprints
            ]
            if rows:
                result = upsert_rows(session, Sprint, rows, batch_size=ctx.batch_size)
                ctx.count("sprints", result.written)
                written += result.written
            new = {"board": info, "sprints": len(rows)}
            save_cursor(session, scope, new, None if ctx.full else cursor)
        progress.advance(len(sprints) + (board_row is not None))
        return written

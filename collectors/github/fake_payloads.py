"""GitHub REST payloads rendered from sandbox records, with every field the OpenAPI spec requires.

The shapes follow ``github.json`` (github/rest-api-description): a list of pulls carries
``pull-request-simple`` objects, the single PR the full ``pull-request`` (with ``merged``,
``additions``, ``deletions``, ``changed_files``, ``commits``), and ``head``/``base`` each embed a
whole ``repository``. URLs inside payloads name api.github.com and github.com whatever port the
fake listens on, so a body (and its ETag) is the same after a restart on another port; only the
``link`` header, which clients follow, points at the fake itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import zlib
from typing import Any

from collectors.sandbox.world import Commit, PullRequest, Repo, Review, World

Json = dict[str, Any]
WEB = "https://github.com"
API = "https://api.github.com"
_LABEL_COLOURS = ("d73a4a", "0075ca", "a2eeef", "7057ff", "008672", "e4e669")


def iso(value: dt.datetime | None) -> str | None:
    """GitHub's timestamp form: UTC, whole seconds, ``Z``."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def fake_sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


class Renderer:
    """Turns records into payloads; caches users and repositories (which never change)."""

    def __init__(self, world: World, api: str = API) -> None:
        self.world = world
        self.api = api.rstrip("/")
        self._user_ids = {p.login: 1000 + i for i, p in enumerate(world.people)}
        self._names = {p.login: (p.name, p.email) for p in world.people}
        self._users: dict[str, Json] = {}
        self._repos: dict[str, Json] = {}

    # ------------------------------------------------------------ people and repos

    def user(self, login: str, kind: str = "User") -> Json:
        cached = self._users.get(login)
        if cached is None:
            ident = self._user_ids.get(login, zlib.crc32(login.encode()) % 10_000_000 + 100_000)
            url = f"{self.api}/users/{login}"
            cached = {
                "login": login,
                "id": ident,
                "node_id": node_id("User", ident),
                "avatar_url": f"https://avatars.githubusercontent.com/u/{ident}?v=4",
                "gravatar_id": "",
                "url": url,
                "html_url": f"{WEB}/{login}",
                "followers_url": f"{url}/followers",
                "following_url": f"{url}/following{{/other_user}}",
                "gists_url": f"{url}/gists{{/gist_id}}",
                "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
                "subscriptions_url": f"{url}/subscriptions",
                "organizations_url": f"{url}/orgs",
                "repos_url": f"{url}/repos",
                "events_url": f"{url}/events{{/privacy}}",
                "received_events_url": f"{url}/received_events",
                "type": kind,
                "user_view_type": "public",
                "site_admin": False,
            }
            self._users[login] = cached
        return cached

    def email_only(self, login: str) -> Json:
        name, email = self._names.get(login, (login, f"{login}@users.noreply.github.com"))
        return {"name": name, "email": email}

    def git_user(self, login: str, at: dt.datetime) -> Json:
        name, email = self._names.get(login, (login, f"{login}@users.noreply.github.com"))
        return {"name": name, "email": email, "date": iso(at)}

    def repository(self, repo: Repo) -> Json:
        """A repository object that satisfies ``repository``, ``full-repository`` and
        ``minimal-repository`` alike (the extra fields are allowed by each)."""
        cached = self._repos.get(repo.full_name)
        if cached is not None:
            return cached
        owner, name = repo.full_name.split("/", 1)
        url = f"{self.api}/repos/{repo.full_name}"
        created = self.world.start - dt.timedelta(days=400)
        cached = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": name,
            "full_name": repo.full_name,
            "private": True,
            "owner": self.user(owner, "Organization"),
            "html_url": f"{WEB}/{repo.full_name}",
            "description": f"{repo.product}: {name}",
            "fork": False,
            "url": url,
            **{f"{part}_url": f"{url}{path}" for part, path in _REPO_URL_TEMPLATES.items()},
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "clone_url": f"{WEB}/{repo.full_name}.git",
            "svn_url": f"{WEB}/{repo.full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "subscribers_count": 0,
            "network_count": 0,
            "size": 2048,
            "default_branch": repo.default_branch,
            "open_issues_count": 0,
            "open_issues": 0,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private",
            "license": None,
            "pushed_at": iso(self.world.now),
            "created_at": iso(created),
            "updated_at": iso(self.world.now),
        }
        self._repos[repo.full_name] = cached
        return cached

    # ------------------------------------------------------------ pulls

    def pull_simple(self, repo: Repo, pr: PullRequest) -> Json:
        """A ``pull-request-simple``, as in the list (no size fields, no ``merged``)."""
        owner = repo.full_name.split("/", 1)[0]
        api = f"{self.api}/repos/{repo.full_name}"
        html = f"{WEB}/{repo.full_name}/pull/{pr.number}"
        head_sha = pr.commits[-1].sha if pr.commits else fake_sha(repo.full_name, pr.number)
        self_url = f"{api}/pulls/{pr.number}"
        issue_url = f"{api}/issues/{pr.number}"
        statuses_url = f"{api}/statuses/{head_sha}"
        return {
            "url": self_url,
            "id": pr.id,
            "node_id": node_id("PullRequest", pr.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{self_url}/commits",
            "review_comments_url": f"{self_url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": statuses_url,
            "number": pr.number,
            "state": pr.state,
            "locked": False,
            "title": pr.title,
            "user": self.user(pr.author),
            "body": f"{pr.title}.\n\nSandbox pull request {pr.number}.",
            "labels": [self.label(repo, name) for name in pr.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(pr.created_at),
            "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at),
            "merged_at": iso(pr.merged_at),
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{owner}:{pr.head}",
                "ref": pr.head,
                "sha": head_sha,
                "user": self.user(owner, "Organization"),
                "repo": self.repository(repo),
            },
            "base": {
                "label": f"{owner}:{pr.base}",
                "ref": pr.base,
                "sha": fake_sha(repo.full_name, pr.number, "base"),
                "user": self.user(owner, "Organization"),
                "repo": self.repository(repo),
            },
            "_links": {
                "self": {"href": self_url},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{self_url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{self_url}/commits"},
                "statuses": {"href": statuses_url},
            },
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": pr.draft,
        }

    def pull(self, repo: Repo, pr: PullRequest) -> Json:
        """The full ``pull-request`` of the single-PR GET."""
        merged = pr.merged_at is not None
        merger = pr.reviews[-1].reviewer if merged and pr.reviews else pr.author
        return {
            **self.pull_simple(repo, pr),
            "merged": merged,
            "mergeable": None if pr.closed_at else True,
            "rebaseable": None if pr.closed_at else True,
            "mergeable_state": "unknown" if pr.closed_at else "clean",
            "merged_by": self.user(merger) if merged else None,
            "comments": 0,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": len(pr.commits),
            "additions": pr.additions,
            "deletions": pr.deletions,
            "changed_files": pr.changed_files,
        }

    def label(self, repo: Repo, name: str) -> Json:
        ident = zlib.crc32(f"{repo.full_name}:{name}".encode())
        return {
            "id": ident,
            "node_id": node_id("Label", ident),
            "url": f"{self.api}/repos/{repo.full_name}/labels/{name}",
            "name": name,
            "description": f"Work labelled {name}",
            "color": _LABEL_COLOURS[ident % len(_LABEL_COLOURS)],
            "default": False,
        }

    def review(self, repo: Repo, pr: PullRequest, review: Review) -> Json:
        html = f"{WEB}/{repo.full_name}/pull/{pr.number}"
        pull_url = f"{self.api}/repos/{repo.full_name}/pulls/{pr.number}"
        head_sha = pr.commits[-1].sha if pr.commits else None
        return {
            "id": review.id,
            "node_id": node_id("PullRequestReview", review.id),
            "user": self.user(review.reviewer),
            "body": "" if review.state == "APPROVED" else "A few comments inline.",
            "state": review.state,
            "html_url": f"{html}#pullrequestreview-{review.id}",
            "pull_request_url": pull_url,
            "_links": {
                "html": {"href": f"{html}#pullrequestreview-{review.id}"},
                "pull_request": {"href": pull_url},
            },
            # Pending reviews have no submitted_at: GitHub omits the key.
            **({"submitted_at": iso(review.submitted_at)} if review.state != "PENDING" else {}),
            "commit_id": head_sha,
            "author_association": "MEMBER",
        }

    def commit(self, repo: Repo, commit: Commit, parent: str | None) -> Json:
        api = f"{self.api}/repos/{repo.full_name}"
        author = self.git_user(commit.author, commit.committed_at)
        return {
            "url": f"{api}/commits/{commit.sha}",
            "sha": commit.sha,
            "node_id": node_id("Commit", commit.sha),
            "html_url": f"{WEB}/{repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{api}/commits/{commit.sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{commit.sha}",
                "author": author,
                "committer": dict(author),
                "message": commit.message,
                "comment_count": 0,
                "tree": {
                    "sha": fake_sha(commit.sha, "tree"),
                    "url": f"{api}/git/trees/{fake_sha(commit.sha, 'tree')}",
                },
            },
            "author": self.user(commit.author),
            "committer": self.user(commit.author),
            "parents": (
                [{"sha": parent, "url": f"{api}/commits/{parent}"}] if parent is not None else []
            ),
        }


# The *_url fields of a repository: the path after the repo URL (URI templates, as GitHub sends).
_REPO_URL_TEMPLATES = {
    "archive": "/archive/{archive_format}{/ref}",
    "assignees": "/assignees{/user}",
    "blobs": "/git/blobs{/sha}",
    "branches": "/branches{/branch}",
    "collaborators": "/collaborators{/collaborator}",
    "comments": "/comments{/number}",
    "commits": "/commits{/sha}",
    "compare": "/compare/{base}...{head}",
    "contents": "/contents/{+path}",
    "contributors": "/contributors",
    "deployments": "/deployments",
    "downloads": "/downloads",
    "events": "/events",
    "forks": "/forks",
    "git_commits": "/git/commits{/sha}",
    "git_refs": "/git/refs{/sha}",
    "git_tags": "/git/tags{/sha}",
    "hooks": "/hooks",
    "issue_comment": "/issues/comments{/number}",
    "issue_events": "/issues/events{/number}",
    "issues": "/issues{/number}",
    "keys": "/keys{/key_id}",
    "labels": "/labels{/name}",
    "languages": "/languages",
    "merges": "/merges",
    "milestones": "/milestones{/number}",
    "notifications": "/notifications{?since,all,participating}",
    "pulls": "/pulls{/number}",
    "releases": "/releases{/id}",
    "stargazers": "/stargazers",
    "statuses": "/statuses/{sha}",
    "subscribers": "/subscribers",
    "subscription": "/subscription",
    "tags": "/tags",
    "teams": "/teams",
    "trees": "/git/trees{/sha}",
}

"""GitHub payloads for what ships code: deployments and their statuses, workflow runs, releases.

Split from `fake_payloads` (people, repositories, pull requests) only to keep files short.
"""

from __future__ import annotations

import zlib

from collectors.github.fake_payloads import WEB, Json, Renderer, fake_sha, iso, node_id
from collectors.sandbox.world import Deployment, DeploymentStatus, Release, Repo, WorkflowRun


class DeliveryRenderer(Renderer):
    """`Renderer` plus deployments, deployment statuses, workflow runs and releases."""

    def deployment(self, repo: Repo, deployment: Deployment) -> Json:
        url = f"{self.api}/repos/{repo.full_name}/deployments/{deployment.id}"
        production = deployment.environment == "production"
        return {
            "url": url,
            "id": deployment.id,
            "node_id": node_id("Deployment", deployment.id),
            "sha": deployment.sha,
            "ref": deployment.ref,
            "task": "deploy",
            "payload": {},
            "original_environment": deployment.environment,
            "environment": deployment.environment,
            "description": f"Deploy {deployment.sha[:7]} to {deployment.environment}",
            "creator": self.user(deployment.creator),
            "created_at": iso(deployment.created_at),
            # The time of the latest status: GitHub bumps it whenever a status is added.
            "updated_at": iso(deployment.updated_at),
            "statuses_url": f"{url}/statuses",
            "repository_url": f"{self.api}/repos/{repo.full_name}",
            "transient_environment": False,
            "production_environment": production,
        }

    def deployment_status(
        self, repo: Repo, deployment: Deployment, status: DeploymentStatus
    ) -> Json:
        url = f"{self.api}/repos/{repo.full_name}/deployments/{deployment.id}"
        log = f"{WEB}/{repo.full_name}/deployments/{deployment.environment}"
        return {
            "url": f"{url}/statuses/{status.id}",
            "id": status.id,
            "node_id": node_id("DeploymentStatus", status.id),
            "state": status.state,
            "creator": self.user(deployment.creator),
            "description": f"Deployment {status.state.replace('_', ' ')}",
            "environment": deployment.environment,
            "target_url": log,
            "log_url": log,
            "environment_url": f"https://{deployment.environment}.{repo.full_name.split('/')[1]}.example",
            "created_at": iso(status.created_at),
            "updated_at": iso(status.created_at),
            "deployment_url": url,
            "repository_url": f"{self.api}/repos/{repo.full_name}",
        }

    def workflow_run(self, repo: Repo, run: WorkflowRun) -> Json:
        api = f"{self.api}/repos/{repo.full_name}"
        url = f"{api}/actions/runs/{run.id}"
        workflow_id = 50_000 + zlib.crc32(f"{repo.full_name}:{run.name}".encode()) % 100_000
        path = f".github/workflows/{run.name.lower().replace(' ', '-')}.yml"
        return {
            "id": run.id,
            "name": run.name,
            "node_id": node_id("WorkflowRun", run.id),
            "check_suite_id": run.id + 7_000_000,
            "check_suite_node_id": node_id("CheckSuite", run.id + 7_000_000),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": path,
            "display_title": f"{run.name} #{run.run_number}",
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": workflow_id,
            "url": url,
            "html_url": f"{WEB}/{repo.full_name}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": iso(run.created_at),
            "updated_at": iso(run.updated_at),
            "actor": self.user(run.actor),
            "triggering_actor": self.user(run.actor),
            "run_attempt": 1,
            "run_started_at": iso(run.created_at),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{api}/check-suites/{run.id + 7_000_000}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": None,
            "workflow_url": f"{api}/actions/workflows/{workflow_id}",
            "head_commit": {
                "id": run.head_sha,
                "tree_id": fake_sha(run.head_sha, "tree"),
                "message": f"Merge into {run.head_branch}",
                "timestamp": iso(run.created_at),
                "author": self.email_only(run.actor),
                "committer": self.email_only(run.actor),
            },
            "repository": self.repository(repo),
            "head_repository": self.repository(repo),
        }

    def release(self, repo: Repo, release: Release) -> Json:
        api = f"{self.api}/repos/{repo.full_name}"
        url = f"{api}/releases/{release.id}"
        return {
            "url": url,
            "html_url": f"{WEB}/{repo.full_name}/releases/tag/{release.tag_name}",
            "assets_url": f"{url}/assets",
            "upload_url": f"https://uploads.github.com/repos/{repo.full_name}/releases/"
            f"{release.id}/assets{{?name,label}}",
            "tarball_url": f"{api}/tarball/{release.tag_name}",
            "zipball_url": f"{api}/zipball/{release.tag_name}",
            "id": release.id,
            "node_id": node_id("Release", release.id),
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "body": f"Changes in {release.name}.",
            "draft": False,
            "prerelease": False,
            "created_at": iso(release.created_at),
            "published_at": iso(release.published_at),
            "author": self.user(release.author),
            "assets": [],
        }

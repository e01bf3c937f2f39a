"""Every surface people touch: the Slack app, web endpoints, scheduler and the `sitrep` CLI."""

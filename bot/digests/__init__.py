"""Scheduled channel digests: what changed, on the subscriber's clock."""

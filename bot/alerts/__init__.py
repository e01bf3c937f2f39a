"""Alerts pushed to Slack: Sentry webhooks parsed and verified, then routed to a product's channel.

`sentry_webhook` turns a signed request body into a `SentryAlert`; `routing` decides which channel
it goes to (or why it stays quiet) and when a burst is folded into a summary. Both are pure: the web
endpoint, the dedup store and the Slack client live in the layers that call them.
"""

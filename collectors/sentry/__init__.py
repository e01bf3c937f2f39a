"""The sentry collector: client (HTTP), mapping (payload -> rows), sync, and its local fake."""

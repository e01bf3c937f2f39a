"""The jira collector: client (HTTP), mapping (payload -> rows), sync, and its local fake."""

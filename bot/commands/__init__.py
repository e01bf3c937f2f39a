"""Slash commands: `/sitrep <command>` parsed, answered through the response URL."""

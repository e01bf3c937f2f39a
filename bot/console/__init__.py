"""A console stand-in for Slack: what the bot would post, drawn as terminal text."""

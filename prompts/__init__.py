"""Jinja2 templates for the LLM: data, with a tiny renderer."""

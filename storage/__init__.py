"""The shared domain model and the only code that knows SQL."""

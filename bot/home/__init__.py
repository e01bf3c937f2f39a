"""The App Home tab: a per-user dashboard of product health, DORA bands, sprints and alerts."""

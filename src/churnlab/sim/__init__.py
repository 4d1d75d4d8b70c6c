"""The synthetic SaaS and readers of its truth (never imported by the pipeline)."""

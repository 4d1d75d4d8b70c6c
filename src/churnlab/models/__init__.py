"""Models: the health score, hazard and lifelines survival models, baselines, the registry."""

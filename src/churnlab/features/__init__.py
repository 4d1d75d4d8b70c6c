"""Point-in-time features: snapshots at an as-of date and landmark datasets."""

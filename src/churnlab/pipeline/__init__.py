"""The pipeline: the book at T, the month, training and rendering, called by the CLI, notebooks and report."""

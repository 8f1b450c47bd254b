"""voxpop.evaluation.results."""

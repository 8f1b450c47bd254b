"""voxpop.labels.rules."""

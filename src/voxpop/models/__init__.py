"""voxpop.models.heads."""

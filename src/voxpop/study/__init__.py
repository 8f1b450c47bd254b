"""voxpop.study.run."""

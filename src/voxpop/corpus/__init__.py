"""voxpop.corpus.corpus."""

"""voxpop.report.render."""

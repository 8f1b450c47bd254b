"""voxpop.agreement.statistics."""

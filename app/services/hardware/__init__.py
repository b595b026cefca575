"""Hardware probes: each one independent, time-bounded, and 'unknown' rather than failing."""

"""The one canonical model: pure, typed, no I/O."""

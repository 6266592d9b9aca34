"""Training engine pieces: launch, hooks, stage runner."""

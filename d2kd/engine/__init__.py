"""Training engine pieces: launch, hooks, the stages of a config, the checks before a run."""

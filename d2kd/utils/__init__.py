"""Small utilities: environment detection, model analysis."""

"""DFMSD: dual feature masking stage-wise distillation (see projects/DFMSD/README.md)."""

"""MKD: multiscale, frequency-domain mask and feature-alignment distillation (see projects/MKD/README.md)."""

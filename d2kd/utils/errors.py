"""Exceptions shared across the layers of d2kd."""


class ConfigError(ValueError):
    """A config, override or path that cannot work; the message says how to fix it.

    Importable as :class:`d2kd.config.ConfigError`; defined here so that the model
    code (:mod:`d2kd.modeling`) can raise it without importing :mod:`d2kd.config`.
    """

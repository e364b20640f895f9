"""The package version, stamped into every saved ``retok_config.json``."""

__version__ = "0.1.0"

"""The release of Interlink: the one place its version is written (the package build reads it here)."""

__version__ = "0.1.0"

"""shotlist: a declarative shot-list renderer for AI video models."""

__version__ = "0.1.0"

"""tracehound: trace analytics for AI agents."""

__version__ = "0.1.0"

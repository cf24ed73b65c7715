"""CPIP kernel: settings, database, errors, durable jobs."""

__version__ = "0.1.0"

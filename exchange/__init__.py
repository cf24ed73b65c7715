"""exchange package."""

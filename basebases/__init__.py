"""basebases package."""

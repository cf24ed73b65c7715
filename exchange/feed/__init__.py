"""The change feed: per resource, ordered, gap-free, cursor-based."""

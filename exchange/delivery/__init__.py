"""Delivery of granted data: the enforcing view, queries, exports."""

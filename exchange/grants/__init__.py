"""Grants (授权) issued from approvals, their status, and their daily quotas."""

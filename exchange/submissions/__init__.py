"""Submissions: a provider sends a batch of records for its own base database; it is quality-gated, lands, and
its changes enter the change feed."""

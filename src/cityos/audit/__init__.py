"""Append-only audit log: who changed what, when, with a before/after summary."""

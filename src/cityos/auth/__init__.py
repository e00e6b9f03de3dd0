"""Accounts: departments, users, roles, sessions and API keys."""

"""Notifications: e-mail (SMTP, or an outbox in development) and signed outgoing webhooks."""

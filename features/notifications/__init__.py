"""Notifications: mail about videos, purchases, tips and payouts, made from the events other features
publish (the event contract is in `service.py`), sent by SMTP or kept in the outbox at /outbox."""

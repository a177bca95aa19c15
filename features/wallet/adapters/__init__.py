"""Wallet adapters: PostgreSQL and in-memory records, and the payment gateways (sandbox, Stripe)."""

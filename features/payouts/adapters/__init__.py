"""Payout adapters: records (PostgreSQL and memory) and payout vendors (sandbox, Stripe Connect, memory)."""

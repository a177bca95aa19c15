"""Payouts: a creator's earnings, once past their hold, paid out through a payout vendor (the built-in
sandbox or Stripe Connect), every step a ledger transfer."""

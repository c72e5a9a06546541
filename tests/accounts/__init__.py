"""Accounts: email verification, profile and password, lockout, two-factor log-in."""

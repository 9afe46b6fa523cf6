"""Reputation decisions, pure: reading a blocklist's answer, its canary, confirmation, effects."""

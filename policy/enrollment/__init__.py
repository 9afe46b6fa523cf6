"""Prospects and auto-enrollment: the pure rules (README: prospects)."""

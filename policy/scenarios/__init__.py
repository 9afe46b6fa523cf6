"""Scenarios: contacts, templates and multi-step sequences; their pure decisions."""

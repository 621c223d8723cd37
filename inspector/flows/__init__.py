"""Flows: the `Flow` model and the pure fold from events to flows."""

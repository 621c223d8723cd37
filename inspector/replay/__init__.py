"""Replay: what to send again (plan), sending it (send), and editing it first (edit)."""

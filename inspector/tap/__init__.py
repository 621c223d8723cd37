"""The tap: live events over a private local socket, and the feeds a dashboard reads."""

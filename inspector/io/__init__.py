"""Capture files and exchange formats: JSON Lines captures, HAR, curl, secret masking."""

"""Events and their storage: the `Event` model, compact records, the bounded ring buffer."""

"""Capture: the middleware, the recorder behind its receive/send hooks, and the publisher
thread that ships records out of the process (capture file, tap)."""

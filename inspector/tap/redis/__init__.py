"""Beyond one machine: publish records to a Redis stream, and read one back.

`url` parses and masks Redis URLs (pure); `entry` is the stream entry format and the
reader's per-publisher bookkeeping (pure); `client` is the one module that imports the
`redis` package (the `asgi-inspector[redis]` extra); `publish` is the publisher thread's
sink; `feed` is the dashboard's feed and the reading of a stream as a capture. Nothing
here is imported until a Redis URL is given.
"""

"""The asgi-inspector dashboard (Textual). The CLI calls `tui.app.run_dashboard(feed)`.

Pure modules (no Textual): flow_store, event_log, stats, model, columns, body,
detail_text, overview_text. Widgets live in tui/widgets/, styles in app.tcss.
"""

"""The filter language: words (lexer), terms (what each key matches), compile (the parser)."""

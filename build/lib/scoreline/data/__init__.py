"""Match data: source adapters, the canonical schema, validation and the match store."""

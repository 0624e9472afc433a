"""YAML alert rules: their schema, the pure engine, and the default rule packs."""

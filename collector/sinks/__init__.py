"""Sinks: consumers that follow the journal from their own cursor and ship events elsewhere."""

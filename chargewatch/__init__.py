"""ChargeWatch core: events, config, journal and store, live state, API, CLI and wiring."""

__version__ = "0.1.0"

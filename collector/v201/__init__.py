"""OCPP 2.0.1 adapter."""

from collector.v201.adapter import V201Adapter

__all__ = ["V201Adapter"]

"""OCPP 1.6J adapter."""

from collector.v16.adapter import V16Adapter

__all__ = ["V16Adapter"]

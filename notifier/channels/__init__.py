"""Channels: deliver rendered messages to one kind of target (see notifier/targets.py)."""

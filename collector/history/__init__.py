"""Importing history from other central systems (`chargewatch import ocpp-log`).

ocpp_log.py reads and checks the lines of an exported OCPP-J log, staging.py orders them
on disk and pairs each charger call with its logged answer, replay.py turns them into the
version-free events through the live collector's own adapter and projects them into the
history tables. See docs/import.md.
"""

"""Monthly SLA, KPI and revenue reports and the regulator's EV-ChART exports."""

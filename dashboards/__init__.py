"""Grafana dashboards for the NOC (JSON models) and their provisioning; `push.py` puts them into
a running Grafana. No other logic lives here: the dashboards query Prometheus and InfluxDB."""

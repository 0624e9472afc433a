#!/usr/bin/env bash
# Install the Debian packages whose servers and tools the test suite runs for real:
#   prometheus       -> prometheus (scrapes the collector), promtool (checks /metrics, configs)
#   influxdb         -> influxd 1.x (the v1 write path and InfluxQL queries)
#   victoria-metrics -> a server implementing InfluxDB's /api/v2/write (the v2 write path)
#   prometheus-alertmanager -> posts its webhooks to ChargeWatch's Alertmanager receiver
# Idempotent: installs only what is missing. Needs root (or passwordless sudo) and apt-get;
# elsewhere it says what is missing and the tests that need it skip (or fail under CI=true).
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v victoria-metrics >/dev/null 2>&1 || missing+=(victoria-metrics)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)

[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: apt-get not found; please install: ${missing[*]}" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "system-deps: not root; please install: ${missing[*]}" >&2
    exit 0
  fi
fi
echo "system-deps: installing ${missing[*]} (apt-get)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

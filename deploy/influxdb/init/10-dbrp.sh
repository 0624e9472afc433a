#!/bin/sh
# InfluxDB 2.x first start (docker-compose.yml mounts this directory at
# /docker-entrypoint-initdb.d): map the InfluxQL database "chargewatch", retention policy
# "autogen", to the bucket the image's setup created, so Grafana's InfluxQL datasource can
# query it. The image's entrypoint runs executable *.sh files here once, right after
# `influx setup`, with the influx CLI configured (admin token, temporary port) and
# DOCKER_INFLUXDB_INIT_ORG_ID / DOCKER_INFLUXDB_INIT_BUCKET_ID exported.
set -eu

: "${DOCKER_INFLUXDB_INIT_ORG_ID:?not set: run by the influxdb image's entrypoint only}"
: "${DOCKER_INFLUXDB_INIT_BUCKET_ID:?not set: run by the influxdb image's entrypoint only}"

if influx v1 dbrp list --org-id "$DOCKER_INFLUXDB_INIT_ORG_ID" --db chargewatch --hide-headers \
    | grep -q .; then
  echo "dbrp: chargewatch/autogen is already mapped"
  exit 0
fi
influx v1 dbrp create \
  --org-id "$DOCKER_INFLUXDB_INIT_ORG_ID" \
  --bucket-id "$DOCKER_INFLUXDB_INIT_BUCKET_ID" \
  --db chargewatch \
  --rp autogen \
  --default
echo "dbrp: InfluxQL chargewatch/autogen -> bucket $DOCKER_INFLUXDB_INIT_BUCKET_ID"

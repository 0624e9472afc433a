# ChargeWatch: the OCPP central-system endpoint, journal, HTTP API and /metrics.
#   docker build -t chargewatch .
#   docker run -p 9000:9000 -p 8000:8000 -v chargewatch-data:/var/lib/chargewatch \
#     -v ./chargewatch.yaml:/etc/chargewatch/chargewatch.yaml:ro chargewatch
# docker-compose.yml runs it with InfluxDB, Prometheus and Grafana (README: "Run the full stack").

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the pinned, hashed dependencies, then ChargeWatch itself -------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/chargewatch
WORKDIR /src

# Dependencies first, in their own layer: rebuilt only when the lock file changes.
COPY requirements-runtime.lock ./
RUN /opt/chargewatch/bin/pip install --require-hashes -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY chargewatch/ chargewatch/
COPY collector/ collector/
COPY rules/ rules/
COPY notifier/ notifier/
COPY dashboards/ dashboards/
COPY reports/ reports/
RUN /opt/chargewatch/bin/pip install --no-deps . \
    && /opt/chargewatch/bin/chargewatch --version

# --- runtime: the virtualenv on a clean slim image, as an unprivileged user ------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ChargeWatch" \
      org.opencontainers.image.description="Monitoring and alerting for OCPP EV charging networks" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/chargewatch/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 chargewatch \
    && useradd --system --uid 10001 --gid chargewatch --no-create-home \
       --home-dir /var/lib/chargewatch --shell /usr/sbin/nologin chargewatch \
    && mkdir -p /etc/chargewatch /var/lib/chargewatch \
    && chown chargewatch:chargewatch /var/lib/chargewatch \
    && chmod 0750 /var/lib/chargewatch

COPY --from=build /opt/chargewatch /opt/chargewatch
# The compose stack's config as the default; mount your own over it. Secrets are ${ENV}
# references: an unset one stops start-up with a config error naming it.
COPY deploy/chargewatch/chargewatch.yaml /etc/chargewatch/chargewatch.yaml

USER chargewatch:chargewatch
WORKDIR /var/lib/chargewatch
# The SQLite journal and state (and notifications.jsonl, the InfluxDB quarantine file).
VOLUME ["/var/lib/chargewatch"]

# 9000: OCPP 1.6J WebSocket (ws://HOST:9000/ocpp/<chargePointId>); 8000: API, /metrics, /healthz
EXPOSE 9000 8000

# /healthz answers 503 when the journal writer stopped; urlopen raises on it (no curl in slim).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["chargewatch", "run", "--config", "/etc/chargewatch/chargewatch.yaml", "--data-dir", "/var/lib/chargewatch"]

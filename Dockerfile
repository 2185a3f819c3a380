# syntax=docker/dockerfile:1
# Charter's image: the wheel only (no source tree), a non-root user, and nothing to write
# outside CHARTER_HOME and /tmp, so it runs with a read-only root filesystem
# (deploy/compose.yaml and the Helm chart set it; docs/deploy.md).
#   docker build -t charter:0.1.0 .

FROM python:3.12-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim-bookworm
ARG CHARTER_VERSION=0.1.0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHARTER_HOME=/var/lib/charter \
    CHARTER_LOG_FORMAT=json
COPY --from=build /wheels /wheels
# the wheel by its file name (never a same-named package from an index) and its
# dependencies, with the OpenTelemetry extra; compiled now, as root,
# because the root filesystem is read-only at run time
RUN pip install --no-cache-dir "/wheels/charter-${CHARTER_VERSION}-py3-none-any.whl[otel]" \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 charter \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/charter charter \
    && mkdir -p /var/lib/charter \
    && chown 10001:10001 /var/lib/charter
USER 10001:10001
WORKDIR /var/lib/charter
VOLUME ["/var/lib/charter"]
EXPOSE 8000 8100 9100 9101
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["charter", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "1", "--metrics-port", "9100", "--metrics-host", "0.0.0.0", "--log-format", "json"]

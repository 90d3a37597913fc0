# syntax=docker/dockerfile:1
#
# conformance-pack-exporter container image.
#
#   docker build -t conformance-pack-exporter .
#   docker run --rm --read-only -p 9869:9869 conformance-pack-exporter --demo
#
# Stage 1 builds wheels of the exporter and of every dependency; stage 2 installs them
# into a clean interpreter from those wheels only (no index, no compiler, no pip cache),
# so the final image holds the installed packages and nothing used to build them.
# tests/test_dockerfile.py replays the RUN pip lines of both stages without Docker and
# runs the result; keep those lines plain `pip ...` commands.

FROM python:3.12.12-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY exporter/ exporter/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .


FROM python:3.12.12-slim-bookworm

# Set by CI (docker build --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD)).
ARG VERSION=dev
ARG REVISION=unknown

LABEL org.opencontainers.image.title="conformance-pack-exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS Config conformance pack deployment status" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/conformance-pack-exporter/conformance-pack-exporter" \
      org.opencontainers.image.url="https://github.com/conformance-pack-exporter/conformance-pack-exporter" \
      org.opencontainers.image.documentation="https://github.com/conformance-pack-exporter/conformance-pack-exporter/blob/main/docs/deploy.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12.12-slim-bookworm"

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
# The home directory is never created: nothing is written at run time. To use AWS profiles,
# mount the files read-only and point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at them.
RUN groupadd --system --gid 65532 exporter \
    && useradd --system --uid 65532 --gid exporter --no-create-home \
        --home-dir /home/exporter --shell /usr/sbin/nologin exporter

# No .pyc files written at run time (the root filesystem may be read-only; pip compiled
# them at install time), logs unbuffered, no pip chatter.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# The wheels are bind-mounted from the build stage, never copied: no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels \
        /wheels/conformance_pack_exporter-*.whl

USER 65532:65532
EXPOSE 9869

# Python's own urllib, so the image needs no curl or wget. Assumes the default
# --web.listen-address (:9869) and plain HTTP; with TLS (--web.config.file) or another
# port, override it (docker run --health-cmd ...) or rely on your orchestrator's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9869/-/healthy', timeout=4)"]

# Arguments of `docker run IMAGE ...` go to the exporter (ENTRYPOINT clears the base
# image's CMD, so there are none by default).
ENTRYPOINT ["conformance-pack-exporter"]

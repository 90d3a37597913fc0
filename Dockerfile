# syntax=docker/dockerfile:1
#
# conformance-pack-exporter container image: Debian's python3 on debian:bookworm-slim, and the
# exporter in a virtualenv. Every file comes from Debian's archive or from a wheel, so the image
# can be rebuilt from a root file system made with debootstrap (deploy/image/build.sh does that
# and builds with buildah, where no registry or Docker daemon is at hand).
#
#   docker build -t conformance-pack-exporter .
#   docker run --rm --read-only -p 9869:9869 conformance-pack-exporter --demo
#
# Stage `python` adds Debian's python3 to the base. Stage `build` makes wheels of the exporter,
# of every dependency and of pip. The final stage runs pip from its wheel to install the
# exporter's wheels into a virtualenv, with no index: no compiler, pip, source tree or cache
# ends up in the image. tests/e2e/test_image.py builds the image and runs it.

# pip in the build stage, and the one that installs the wheels in the final stage.
ARG PIP_VERSION=26.3

FROM debian:bookworm-slim AS python

# `python3` fixes Python's minor version (bookworm's 3.11); python3.11 brings Debian's
# security updates. No package lists are kept.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 \
    && rm -rf /var/lib/apt/lists/*


FROM python AS build

ARG PIP_VERSION
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv=3.11.2-1+b1 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/build

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY exporter/ exporter/
# pip's settings (index, proxy, CA bundle: deploy/image/pip_settings.py) arrive as secrets,
# mounted for this step only; pip's download cache lives outside the image, across builds.
RUN --mount=type=secret,id=pip.conf \
    --mount=type=secret,id=pip-cert \
    --mount=type=secret,id=pip-client-cert \
    --mount=type=cache,target=/root/.cache/pip \
    PIP_CONFIG_FILE=/run/secrets/pip.conf \
    /opt/build/bin/pip wheel --wheel-dir /wheels . "pip==${PIP_VERSION}" \
    && sha256sum /wheels/*.whl > /wheels/SHA256SUMS


FROM python

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
# The home directory is never created: nothing is written at run time. To use AWS profiles,
# mount the files read-only and point AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE at them.
RUN groupadd --system --gid 65532 exporter \
    && useradd --system --uid 65532 --gid exporter --no-create-home \
        --home-dir /home/exporter --shell /usr/sbin/nologin exporter

# The checksums of the wheels stay in the image, as a record of what it was made of (and so
# that new wheels mean a new layer: buildah's layer cache, unlike Docker's, overlooks a
# changed bind mount). The wheels themselves are bind-mounted from the build stage, never
# copied: no layer keeps them. pip runs from its own wheel, so it is not installed; it
# compiles the .pyc files now, since the root file system may be read-only at run time.
ARG PIP_VERSION
COPY --from=build /wheels/SHA256SUMS /opt/conformance-pack-exporter/wheels.sha256
# Set by CI (docker build --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD));
# deploy/image/build.sh sets both. They fill the labels at the end, but are declared before
# this RUN so that a new value makes a new layer here: buildah's layer cache notices a
# changed build argument in RUN steps only (containers/buildah#5501), and would otherwise
# keep the old labels.
ARG VERSION=dev
ARG REVISION=unknown
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    sha256sum --check --quiet /opt/conformance-pack-exporter/wheels.sha256 \
    && python3 -m venv --without-pip /opt/conformance-pack-exporter \
    && /opt/conformance-pack-exporter/bin/python "/wheels/pip-${PIP_VERSION}-py3-none-any.whl/pip" \
        install --no-index --no-cache-dir --disable-pip-version-check --find-links=/wheels \
        conformance-pack-exporter

# No .pyc files written at run time, logs unbuffered; the virtualenv first on PATH.
ENV PATH=/opt/conformance-pack-exporter/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

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

LABEL org.opencontainers.image.title="conformance-pack-exporter" \
      org.opencontainers.image.description="Prometheus exporter for AWS Config conformance pack deployment status" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/conformance-pack-exporter/conformance-pack-exporter" \
      org.opencontainers.image.url="https://github.com/conformance-pack-exporter/conformance-pack-exporter" \
      org.opencontainers.image.documentation="https://github.com/conformance-pack-exporter/conformance-pack-exporter/blob/main/docs/deployment.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

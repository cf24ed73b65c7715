# syntax=docker/dockerfile:1
#
# CPIP container image: `cpip serve` by default; the Helm chart (helm/cpip) runs the same image as
# `cpip worker` and `cpip db upgrade`. Build with BuildKit:
#
#   docker build -t registry.example.gov.cn/cpip/cpip:0.1.0 .
#
# Not built or run in the project's CI (no container engine there): see docs/deployment.md.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: wheels for the project and every dependency -------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler only for dependencies that ship no wheel for this platform; it stays in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels .

# --- runtime: the interpreter, the installed wheels and nothing to build with ------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="cpip" \
      org.opencontainers.image.description="CPIP 城市公共信息平台 (City Public Information Platform)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/cpip \
    CPIP_EXPORT_DIR=/var/lib/cpip/exports \
    CPIP_DATABASE_URL=sqlite+aiosqlite:////var/lib/cpip/cpip.db

RUN groupadd --system --gid 10001 cpip \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/cpip --create-home \
      --shell /usr/sbin/nologin cpip \
 && mkdir -p /var/lib/cpip/exports \
 && chown -R 10001:10001 /var/lib/cpip

# Install from the builder's wheels only (no index), without copying the wheels into a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels cpip \
 && cpip --help > /dev/null

USER 10001:10001
WORKDIR /home/cpip
VOLUME ["/var/lib/cpip"]
EXPOSE 8000

ENTRYPOINT ["cpip"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

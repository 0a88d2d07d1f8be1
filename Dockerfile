# syntax=docker/dockerfile:1
#
# Snakepit in one container: `docker build -t snakepit .`, then see README.md,
# "Deployment", for `docker run` with the recommended flags, or docker-compose.yml.
#
# tests/container.rs re-creates the runtime stage without Docker (crun, Docker's
# default seccomp profile and capabilities) and reads this file to do it: the
# runtime stage's USER, ENV, WORKDIR, ENTRYPOINT/CMD, EXPOSE, HEALTHCHECK and
# COPY destinations are what it runs, so keep them simple one-line instructions.

############################################################################
# Build stage: the release binary.
############################################################################
FROM rust:1.95-bookworm AS build

# Dependencies are cached with BuildKit cache mounts (cargo's registry and the
# target directory) rather than the "build a dummy main.rs first" trick: the
# trick needs a fake crate that compiles (askama templates, sqlx::migrate!,
# include_str! of runner.py all read files at compile time), and it only caches
# dependencies, whereas the target-dir mount also keeps incremental artifacts
# of snakepit itself between builds. The cache lives outside the image layers,
# so the binary is copied out of it in the same RUN.
# The sandbox's seccomp layer links libseccomp.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY migrations ./migrations
COPY benches ./benches
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --locked --release \
    && install -D -m 0755 target/release/snakepit /out/snakepit

############################################################################
# Python runtimes stage: 3.13, 3.14 and 3.15 from a Debian forky root
# filesystem, and every runtime's pinned packages, made by the same script as
# on a host (scripts/ensure-runtimes; README.md, "Python runtimes"). 3.11 is
# the runtime stage's own python3, the same bookworm build as here.
############################################################################
FROM debian:bookworm-slim AS runtimes

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates debootstrap patchelf python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/ensure-runtimes ./scripts/ensure-runtimes
COPY runtimes ./runtimes
RUN scripts/ensure-runtimes

############################################################################
# Runtime stage: the Python runtimes for the snippets, the binary, the content.
############################################################################
FROM debian:bookworm-slim AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="Snakepit" \
      org.opencontainers.image.description="A self-hosted knowledge base of hard-won Python expertise, with runnable snippets" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# libseccomp2 is the sandbox's seccomp library (already in the base image, as
# apt needs it; named so that it stays).
# python3 pulls libpython3.11-stdlib: asyncio, multiprocessing, sqlite3
# (libsqlite3-0), ctypes (libffi8), ssl, zoneinfo's code; tzdata gives zoneinfo
# its database (the articles on time zones run ZoneInfo("Europe/Paris")).
# Versions are not pinned on purpose: bookworm's security updates replace the
# pinned version in the archive and the build would break; the base image tag
# and `apt-get upgrade`-free install keep it reproducible enough.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libseccomp2 python3 tzdata \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid: the files in the /data volume keep their owner
# across image upgrades, and the sandbox needs no privileges (see README.md).
RUN groupadd --system --gid 10001 snakepit \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin snakepit \
    && mkdir -p /data \
    && chown 10001:10001 /data \
    && chmod 0750 /data

COPY --from=build /out/snakepit /usr/local/bin/snakepit
COPY --from=runtimes /opt/snakepit/runtimes /opt/snakepit/runtimes
COPY content /app/content
COPY static /app/static

ENV SNAKEPIT_BIND=0.0.0.0:8080 \
    SNAKEPIT_DATA=/data \
    SNAKEPIT_CONTENT=/app/content \
    SNAKEPIT_STATIC=/app/static \
    SNAKEPIT_RUNTIME_DIR=/opt/snakepit/runtimes \
    SNAKEPIT_LOG_FORMAT=json

VOLUME /data
WORKDIR /app
USER 10001:10001
EXPOSE 8080

# Python is in the image anyway for the snippets; no curl just for this. The
# port comes from SNAKEPIT_BIND, so overriding it keeps the check right.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-I", "-c", "import os, urllib.request; port = os.environ['SNAKEPIT_BIND'].rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

# The server finishes requests in flight and stops the sandbox pool on SIGTERM
# (give it wall limit + 5 s: `docker stop -t 20`, stop_grace_period in compose).
STOPSIGNAL SIGTERM
ENTRYPOINT ["snakepit"]
CMD ["serve"]

# Contact Center OS: one image that serves every function through the gateway (DESIGN.md).
# Stage 1 builds a self-contained virtualenv; stage 2 copies only that venv and the SQL
# migrations, so build tooling and sources stay out of the runtime image.

# Both stages must share one base: the venv's interpreter is a symlink into it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /src

# The same two pip steps as `make install`, but non-editable and without the dev extra:
# the image runs the installed package, not a checkout.
# DL3013 asks for a pinned pip; like the Makefile we take the newest pip on purpose (it only
# resolves and installs; the project's dependencies are bounded in pyproject.toml).
# hadolint ignore=DL3013
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --upgrade pip

COPY pyproject.toml README.md ./
COPY functions ./functions
COPY gateway ./gateway
RUN pip install --no-cache-dir .


FROM ${PYTHON_IMAGE} AS runtime

ENV APP_MODE=production \
    LOG_FORMAT=json \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MIGRATIONS_DIR=/app/supabase/migrations \
    DATA_DIR=/app/.data

# A fixed, non-root uid, so volume permissions and runAsNonRoot policies can name it.
RUN groupadd --system --gid 10001 ccos \
    && useradd --system --uid 10001 --gid ccos --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin ccos

WORKDIR /app

# Code and migrations stay root-owned (read-only to the app); only DATA_DIR is writable.
COPY --from=builder /opt/venv /opt/venv
COPY supabase/migrations ./supabase/migrations
RUN mkdir -p /app/.data && chown ccos:ccos /app/.data

USER 10001:10001

EXPOSE 8080

# Liveness only (no database): slim has no curl, so ask Python. Fly uses its own checks
# from fly.toml; this one serves `docker run` and other orchestrators.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["ccos", "serve", "--host", "0.0.0.0", "--port", "8080"]

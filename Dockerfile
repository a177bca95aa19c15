# syntax=docker/dockerfile:1
# Build stage: resolve and install dependencies with uv from the lock file.
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:latest /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY core ./core
COPY features ./features
COPY migrations ./migrations
COPY static ./static
RUN uv sync --frozen --no-dev

# Runtime stage: the virtual environment and the code, run as an unprivileged user.
FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 hypha
WORKDIR /app
COPY --from=build --chown=hypha:hypha /app /app
ENV PATH="/app/.venv/bin:$PATH" HOST=0.0.0.0 PORT=8000 DATA_DIR=/data PYTHONUNBUFFERED=1
RUN mkdir -p /data && chown hypha:hypha /data
USER hypha
EXPOSE 8000
# DATABASE_URL must point at PostgreSQL; run `hypha migrate` once per release (see Procfile).
CMD ["hypha", "web"]

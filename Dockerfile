# registrar: one image for every worker and host; configuration through REGISTRAR_* variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --system --home-dir /app registrar

# The versions CI tested (requirements.lock, Redis support included), checked against their hashes;
# then registrar itself without resolving anything again.
COPY requirements.lock ./
RUN pip install --disable-pip-version-check --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --disable-pip-version-check --no-deps . && pip check && chown -R registrar /app

USER registrar
EXPOSE 8000
# `serve` applies pending migrations (one host at a time, under an advisory lock) before serving.
CMD ["registrar", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"

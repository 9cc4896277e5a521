# The connector service (`hull-customerio serve`) in a container.
#
#   docker build -t hull-customerio .
#   docker run -p 8000:8000 -e HULL_CUSTOMERIO_TOKEN_KEY hull-customerio
#
# Environment (see docs/deploying.md, "Running in a container"):
#   HULL_CUSTOMERIO_TOKEN_KEY  required: the secret that seals each connector's webhook URL; the
#                              same value for every container of the service, kept across
#                              restarts. Pass it at run time, never at build time.
#   REDIS_URL                  optional: read by your own code (a shared rate limiter).
# Hull and Customer.io credentials are not configured here: a hub reads them from each request.

# -- build the wheel from the sources (the same artefact CI checks)
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir "build==1.6.1"
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN python -m build --wheel --outdir /dist .

# -- the service: the wheel with the `server` and `redis` extras, nothing else
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /dist /dist
RUN pip install --no-cache-dir "$(ls /dist/hull_customerio-*.whl)[server,redis]" \
    && rm -rf /dist \
    && groupadd --system --gid 10001 hull \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin hull
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["hull-customerio", "serve", "--host", "0.0.0.0", "--port", "8000"]

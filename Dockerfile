# Funnel's image: `docker build -t funnel .`, then
#   docker run -p 4000:4000 -v $PWD/examples:/etc/funnel:ro funnel
# The config is /etc/funnel/funnel.yaml (mount it, or a ConfigMap); every setting can also come from
# FUNNEL_<SECTION>__<KEY> variables. The build stage installs the package with its production extras into a
# virtual environment; the final stage copies only that environment and runs it as a user without privileges.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY registry ./registry
COPY instrumentation ./instrumentation
RUN python -m venv /opt/funnel \
    && /opt/funnel/bin/pip install ".[fast,metrics,tracing,otlp,redis]"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin funnel
COPY --from=build /opt/funnel /opt/funnel
ENV PATH=/opt/funnel/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FUNNEL_SERVER__HOST=0.0.0.0 \
    FUNNEL_SERVER__PORT=4000
WORKDIR /etc/funnel
USER 10001:10001
EXPOSE 4000
# /health answers while the process runs (/ready, which also asks the services, is for load balancers).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['FUNNEL_SERVER__PORT'] + '/health', timeout=2)"]
# SIGTERM drains: /ready turns 503, the port closes after server.drain_ms, requests in flight finish.
STOPSIGNAL SIGTERM
ENTRYPOINT ["funnel", "serve"]
CMD ["--config", "/etc/funnel/funnel.yaml"]

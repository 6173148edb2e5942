# syntax=docker/dockerfile:1
# The storefleet image: every Python service (run one with `python -m services.<name>`),
# the built dashboard (web/dist, served by the gateway), the engine charts and the helm
# binary the provisioner renders them with. Build and load it: docs/operations.md.
#
#   docker build -t storefleet:dev .
#
# Bases are pinned by exact tag; pin by digest too (FROM image:tag@sha256:...) in a
# release pipeline that can resolve them.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG GO_IMAGE=golang:1.26.8-bookworm
ARG HELM_VERSION=v3.21.4
# The Kubernetes minor of helm's client-go (v0.36.x): what `helm template` assumes when
# not told a --kube-version (helm's own Makefile sets the same variables).
ARG HELM_KUBE_MINOR=36

# -- the dashboard: TypeScript + Vite -> static files ------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# -- helm, built from Go modules like the test cluster's ----------------------------------
FROM ${GO_IMAGE} AS helm
ARG HELM_VERSION
ARG HELM_KUBE_MINOR
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
RUN go install -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${HELM_KUBE_MINOR} \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${HELM_KUBE_MINOR}" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" \
 && /go/bin/helm version --short

# -- the services' dependencies, in a virtualenv (the services themselves are copied as
#    source below, so data files next to the code, like migrations, come along) -----------
FROM ${PYTHON_IMAGE} AS python
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
 && /opt/venv/bin/pip install --no-compile -r requirements.txt \
 && /opt/venv/bin/pip uninstall -y pip setuptools

# -- the image: no compiler, no package manager caches, no root ---------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="storefleet" \
      org.opencontainers.image.description="storefleet platform: gateway, provisioner, reaper, auditor"
RUN groupadd --system --gid 10001 storefleet \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin storefleet
COPY --from=python /opt/venv /opt/venv
COPY --from=helm /go/bin/helm /usr/local/bin/helm
COPY --from=web /src/web/dist /app/web/dist
COPY charts/engines /app/charts/engines
COPY shared /app/shared
COPY services /app/services
RUN python -m compileall -q /opt/venv/lib /app/shared /app/services
# helm keeps caches under $HOME by default; the root filesystem is read-only in the
# chart, so they live in /tmp (an emptyDir there).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STOREFLEET_HELM_BINARY=/usr/local/bin/helm \
    STOREFLEET_CHARTS_DIR=/app/charts/engines \
    STOREFLEET_WEB_DIST=/app/web/dist \
    HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data
WORKDIR /app
USER 10001:10001
EXPOSE 8080 8081
CMD ["python", "-m", "services.gateway"]

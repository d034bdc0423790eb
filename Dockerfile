# The algorithm container image: python -m algorithm on /input -> /output, as grand-challenge.org runs it.
#
# Build it with ./build.sh (or `docker build .` from the repository root; the
# allow-list in .dockerignore keeps the context to requirements.txt,
# algorithm/, models/ and ./wheelhouse/*.whl). Works with the classic builder
# and BuildKit (no RUN --mount).
#
# Build arguments:
#   BASE_IMAGE  any image with python3 >= 3.10 that can create venvs
#               (python:3.11-slim, or Debian bookworm + python3 python3-venv python3-pip:
#               docker/base-image.sh makes kit-base:bookworm)
#   WHEELS_URL  a pip --find-links URL serving the wheels of requirements.txt
#               (build.sh --wheelhouse DIR serves DIR at http://127.0.0.1:PORT/ and
#               builds with --network host); installs offline from it when set
#   OFFLINE     auto: WHEELS_URL if set, else ./wheelhouse/*.whl if the context has any,
#                     else the package index (PyPI or the base image's pip configuration)
#               1: WHEELS_URL or ./wheelhouse only (fail without them)   0: the index even so
#
# Layout: /opt/venv (Python packages), /opt/app/algorithm (the package),
# /opt/app/models (bundled models; /opt/ml/model, where grand-challenge puts an
# uploaded model, takes precedence), runs as the unprivileged user "algorithm"
# (uid 1001).
ARG BASE_IMAGE=python:3.11-slim

FROM --platform=linux/amd64 ${BASE_IMAGE} AS venv
ARG WHEELS_URL=
ARG OFFLINE=auto
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
# requirements.txt, plus the wheels of ./wheelhouse/ when the context has them
# (the glob matches nothing otherwise, which COPY allows beside a real file).
COPY requirements.txt wheelhouse* /tmp/build/
RUN set -eu; \
    python3 -m venv /opt/venv; \
    wheels=$(find /tmp/build -maxdepth 1 -name '*.whl' | wc -l); \
    case "$OFFLINE" in \
      auto|1) if [ -n "$WHEELS_URL" ]; then source=url; \
              elif [ "$wheels" -gt 0 ]; then source=folder; \
              elif [ "$OFFLINE" = 1 ]; then echo "OFFLINE=1 but no WHEELS_URL and no ./wheelhouse/*.whl in the context" >&2; exit 1; \
              else source=index; fi ;; \
      0) source=index ;; \
      *) echo "OFFLINE must be auto, 1 or 0, not '$OFFLINE'" >&2; exit 1 ;; \
    esac; \
    pip="/opt/venv/bin/pip install"; \
    case "$source" in \
      url) echo "installing offline from $WHEELS_URL"; \
           host=$(echo "$WHEELS_URL" | sed -E 's#^[A-Za-z]+://([^/:]+).*#\1#'); \
           $pip --no-index --find-links "$WHEELS_URL" --trusted-host "$host" -r /tmp/build/requirements.txt ;; \
      folder) echo "installing offline from $wheels wheels in ./wheelhouse"; \
           $pip --no-index --find-links /tmp/build -r /tmp/build/requirements.txt ;; \
      index) echo "installing from the package index"; \
           $pip -r /tmp/build/requirements.txt ;; \
    esac; \
    /opt/venv/bin/python -c "import torch, torchvision, numpy, scipy, sklearn, skimage, openslide, tifffile, imagecodecs, SimpleITK, PIL, tqdm; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"; \
    rm -rf /tmp/build

FROM --platform=linux/amd64 ${BASE_IMAGE}
LABEL org.opencontainers.image.title="algorithm" \
      org.opencontainers.image.description="grand-challenge.org algorithm container: mitotic figure detection (python -m algorithm)"
RUN groupadd --gid 1001 algorithm \
 && useradd --uid 1001 --gid algorithm --home-dir /opt/app --no-create-home --no-log-init --shell /usr/sbin/nologin algorithm
COPY --from=venv /opt/venv /opt/venv
COPY algorithm/ /opt/app/algorithm/
COPY models/ /opt/app/models/
RUN /opt/venv/bin/python -m compileall -q /opt/app/algorithm \
 && chmod -R a+rX /opt/app \
 && mkdir -p /input /output /opt/ml/model \
 && chown algorithm:algorithm /output
# HOME and caches in /tmp: the root file system may be read-only (a tmpfs /tmp is expected).
# The task (sockets and models) the container runs: midog, help or all; see python -m algorithm --help.
ARG TASK=midog
ENV ALGORITHM_TASK=${TASK} \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    TORCH_HOME=/tmp/.cache/torch \
    MPLCONFIGDIR=/tmp/.cache/matplotlib
WORKDIR /opt/app
USER algorithm
ENTRYPOINT ["/opt/venv/bin/python", "-m", "algorithm"]

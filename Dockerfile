# The algorithm container image: python -m algorithm on /input -> /output, as grand-challenge.org runs it.
#
# Build it with ./build.sh (or `docker build .` from the repository root; the
# allow-list in .dockerignore keeps the context to the requirement files,
# docker/image-requirements.sh and docker/slim-venv.sh, algorithm/, models/ and
# ./wheelhouse/*.whl). Works with the classic builder and BuildKit (no RUN --mount).
#
# Build arguments:
#   CUDA        12 (default) or 13: the torch build the image holds, from
#               requirements-cuda<CUDA>.txt (12: torch 2.10.0, CUDA 12.8, NVIDIA driver
#               >= 525.60.13; 13: torch 2.14.1, CUDA 13.0, driver >= 580.65.06);
#               docker/image-requirements.sh puts it in place of requirements.txt's torch
#   BASE_IMAGE  any image with python3 >= 3.10 that can create venvs
#               (python:3.11-slim, or Debian bookworm + python3 python3-venv python3-pip:
#               docker/base-image.sh makes kit-base:bookworm)
#   WHEELS_URL  a pip --find-links URL serving the wheels of requirements.txt
#               (build.sh --wheelhouse DIR serves DIR at http://127.0.0.1:PORT/ and
#               builds with --network host); installs offline from it when set
#   OFFLINE     auto: WHEELS_URL if set, else ./wheelhouse/*.whl if the context has any,
#                     else the package index (PyPI or the base image's pip configuration)
#               1: WHEELS_URL or ./wheelhouse only (fail without them)   0: the index even so
#   TASK        midog (default), help, nuclei, all, or several (midog,help): $ALGORITHM_TASK
#
# After the install, docker/slim-venv.sh removes what the job never loads (triton,
# GPU linear algebra, headers...; see that script and the README's sizes) and checks
# that every remaining library still resolves its dependencies.
#
# Layout: /opt/venv (Python packages), /opt/app/algorithm (the package),
# /opt/app/models (bundled models; /opt/ml/model, where grand-challenge puts an
# uploaded model, takes precedence), runs as the unprivileged user "algorithm"
# (uid 1001).
ARG BASE_IMAGE=python:3.11-slim

FROM --platform=linux/amd64 ${BASE_IMAGE} AS venv
ARG CUDA=12
ARG WHEELS_URL=
ARG OFFLINE=auto
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1
# The requirement files and the two scripts, plus the wheels of ./wheelhouse/ when the
# context has them (the glob matches nothing otherwise, which COPY allows beside real files).
COPY requirements.txt requirements-cuda*.txt docker/image-requirements.sh docker/slim-venv.sh wheelhouse* /tmp/build/
RUN set -eu; \
    sh /tmp/build/image-requirements.sh "$CUDA" /tmp/build >/tmp/build/image-requirements.txt; \
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
           $pip --no-index --find-links "$WHEELS_URL" --trusted-host "$host" -r /tmp/build/image-requirements.txt ;; \
      folder) echo "installing offline from $wheels wheels in ./wheelhouse"; \
           $pip --no-index --find-links /tmp/build -r /tmp/build/image-requirements.txt ;; \
      index) echo "installing from the package index"; \
           $pip -r /tmp/build/image-requirements.txt ;; \
    esac; \
    bash /tmp/build/slim-venv.sh /opt/venv; \
    /opt/venv/bin/python -c "import sys, torch, torchvision, numpy, scipy, sklearn, skimage, openslide, tifffile, imagecodecs, SimpleITK, PIL, tqdm; \
print('torch', torch.__version__, 'CUDA', torch.version.cuda); \
assert (torch.version.cuda or '').split('.')[0] == sys.argv[1], 'torch is built for CUDA %s, not %s' % (torch.version.cuda, sys.argv[1])" "$CUDA"; \
    rm -rf /tmp/build

FROM --platform=linux/amd64 ${BASE_IMAGE}
ARG CUDA=12
LABEL org.opencontainers.image.title="algorithm" \
      org.opencontainers.image.description="grand-challenge.org algorithm container: mitotic figure detection (python -m algorithm)" \
      kit.cuda="${CUDA}"
RUN groupadd --gid 1001 algorithm \
 && useradd --uid 1001 --gid algorithm --home-dir /opt/app --no-create-home --no-log-init --shell /usr/sbin/nologin algorithm
COPY --from=venv /opt/venv /opt/venv
COPY algorithm/ /opt/app/algorithm/
COPY models/ /opt/app/models/
# Only what lacks the read bits is chmod-ed: chmod copies a file into this layer even when
# nothing changes (the models would be stored twice).
RUN /opt/venv/bin/python -m compileall -q /opt/app/algorithm \
 && find /opt/app \( -type d ! -perm -a+rx -o -type f ! -perm -a+r \) -exec chmod a+rX {} + \
 && mkdir -p /input /output /opt/ml/model \
 && chown algorithm:algorithm /output
# HOME and caches in /tmp: the root file system may be read-only (a tmpfs /tmp is expected).
# The task (sockets and models) the container runs: midog, help, nuclei, label or all; see python -m algorithm --help.
ARG TASK=midog
ENV ALGORITHM_TASK=${TASK} \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    TORCH_HOME=/tmp/.cache/torch \
    MPLCONFIGDIR=/tmp/.cache/matplotlib \
    TORCHINDUCTOR_CACHE_DIR=/tmp/.cache/torchinductor \
    USER=algorithm \
    LOGNAME=algorithm
# USER, LOGNAME and torch's inductor cache: a platform may run the image as any uid (docker run --user 4321),
# absent from /etc/passwd; torch computes its cache folder when torchvision is imported, through
# getpass.getuser(), which reads these variables before it looks the uid up (and failed: KeyError).
# glibc's large blocks (a model's activations, freed after every batch) on 2 MiB pages where the kernel allows
# THP: on 4 KiB pages the CPU detector took ~26,000 page faults a batch, ~10 % of its time
# (benchmarks/bench_malloc.py). Outputs are unchanged: only where memory comes from.
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
# torch's CPU threads sleep at each operator's barrier: beside any other process libgomp's long spin held
# the core its partner needed, 7x slower (algorithm/threads.py, benchmarks/bench_wait_policy.py)
ENV OMP_WAIT_POLICY=PASSIVE
WORKDIR /opt/app
USER algorithm
ENTRYPOINT ["/opt/venv/bin/python", "-m", "algorithm"]

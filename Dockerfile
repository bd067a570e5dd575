# bigtrain component image: one image runs every step of the pipeline. KFP sets the command
# (`python3 -m kfp.dsl.executor_main ...`, components are built with install_kfp_package=False), so the image has
# no ENTRYPOINT; the venv's python3 comes first on PATH and has kfp and the bigtrain packages installed.
#
#   docker build -t bigtrain:0.1.0 .                                # CPU
#   docker build --build-arg VARIANT=gpu -t bigtrain:0.1.0-gpu .    # GPU (the train step on the GPU pool)
# Optional: --build-arg SOURCE_URL=<repository URL> --build-arg REVISION=$(git rev-parse HEAD) for the OCI labels.
#
# GPU variant: a build arg, not a second Dockerfile. Both variants use the same base image (see below), so the only
# difference is one pip extra; a second file would copy every other line and could drift from this one.
#
# CUDA: tensorflow 2.21.0 is built against CUDA 12.5.1 and cuDNN 9 (tensorflow/python/platform/build_info.py in
# the wheel). Its `and-cuda` extra requires the CUDA runtime as nvidia-*-cu12 wheels (>=12.5, <13), which
# requirements.lock pins: CUDA 12.9 user-space libraries (cudart 12.9.79, cuBLAS 12.9.3.13, nvcc/ptxas 12.9.86,
# nvJitLink 12.9.86), cuDNN 9.28.0.42 and NCCL 2.32.3; CUDA 12.x minor-version compatibility covers 12.5 -> 12.9.
# No CUDA base image (nvidia/cuda): the wheels carry the CUDA/cuDNN user-space runtime, and TF's libraries find it
# through their RUNPATH ($ORIGIN/../nvidia/*/lib in the venv), so a CUDA base would add a second copy of the same
# libraries, possibly at another version. The GPU node only needs the NVIDIA driver (libcuda.so, mounted by the
# NVIDIA container toolkit / device plugin): a CUDA 12 driver, >= 525.60.13 under minor-version compatibility,
# >= 575 to run the 12.9 runtime natively.
#
# Base image: exact patch tag plus the multi-arch index digest that docker-library/repo-info recorded for
# python:3.11.16-slim-bookworm (repos/python/remote/3.11.16-slim-bookworm.md, build of 2026-09-01). Bump both together.
#
# checkov:skip=CKV_DOCKER_2:a batch job; KFP tracks a step by its exit code and Kubernetes ignores HEALTHCHECK

FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv

WORKDIR /src
COPY pyproject.toml requirements.lock README.md ./
COPY beam_jobs ./beam_jobs
COPY components ./components
COPY pipelines ./pipelines

# The same install as the Makefile (`pip install -c requirements.lock -e '.[test]'`), without -e and without [test].
# Every dependency is a wheel or a pure-Python sdist, so the builder needs no compiler either.
RUN /opt/venv/bin/pip install --no-cache-dir -c requirements.lock .

# Declared after the CPU install, so both variants share the layer above.
ARG VARIANT=cpu
RUN case "${VARIANT}" in \
      cpu) ;; \
      gpu) /opt/venv/bin/pip install --no-cache-dir -c requirements.lock ".[gpu]" ;; \
      *) echo "VARIANT must be cpu or gpu, got '${VARIANT}'" >&2; exit 1 ;; \
    esac


FROM python:3.11.16-slim-bookworm@sha256:c425d915a89a6dcd3183b1797ad9bd8878caff5a417f6371c8df93c8ea8b727f AS runtime

ARG VARIANT=cpu
ARG SOURCE_URL=https://github.com/example/bigtrain
ARG REVISION=unknown
LABEL org.opencontainers.image.title="bigtrain" \
      org.opencontainers.image.description="bigtrain pipeline components: ingest, preprocess, train, evaluate, push" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}" \
      io.bigtrain.variant="${VARIANT}"

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# A numeric non-root user (Kubernetes runAsNonRoot can only verify a numeric UID). The KFP v2 launcher puts input
# artifacts under /gcs, /minio and /s3; backends before kubeflow/pipelines#10857 do not mount an emptyDir there,
# so the directories exist and belong to that user.
RUN groupadd --gid 10001 bigtrain \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/bigtrain --shell /usr/sbin/nologin bigtrain \
 && mkdir /gcs /minio /s3 \
 && chown 10001:10001 /gcs /minio /s3

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /home/bigtrain

# LOTR (lotr_gluon) on NVIDIA GPUs: CUDA 11.2 + cuDNN 8, MXNet 1.9.1 (mxnet-cu112), Python 3.11.
#
#   docker build -t lotr-gluon .
#   docker run --gpus all -v /path/to/jd-landmark:/data -v $PWD/runs:/opt/lotr_gluon/runs \
#       -v ~/.mxnet:/home/lotr/.mxnet \
#       lotr-gluon tools/train.py --config experiments/lotr_r+.yaml --set data.root=/data --gpus 0
#
# The paper's experiments start from ImageNet backbones in gluoncv's model store, MXNET_HOME
# (/home/lotr/.mxnet here): mounting the host's ~/.mxnet keeps the weights across containers,
# so they are fetched once (and a machine without internet can be given them that way).
#
# Wheels (build argument MXNET, with its CUDA base image):
#   mxnet-cu112 (default)  CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
#   mxnet-cu117            CUDA_IMAGE=nvidia/cuda:11.7.1-cudnn8-runtime-ubuntu20.04
#   mxnet (CPU only)       either base image
# Both CUDA wheels carry kernels for compute capability 5.0, 6.0, 7.0, 8.0 and 8.6 and no PTX:
# Maxwell to Ada run (V100, T4, A10, A100, L4, L40, RTX 20-40), Kepler (K80) and Hopper
# (H100, H200, capability 9.0) do not, and no MXNet release supports Hopper. The health check
# (tools/doctor.py --gpus all) reports unhealthy on a GPU the wheel cannot run, and
# tools/train.py --gpus refuses one with a one-line message before building anything.

ARG CUDA_IMAGE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

FROM ${CUDA_IMAGE} AS build
ARG MXNET=mxnet-cu112
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Ubuntu 20.04 ships Python 3.8; 3.11 comes from the deadsnakes PPA. build-essential and the
# headers are for insightface's Cython extension and stay in this stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
        python3.11 python3.11-dev python3.11-venv build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/lotr_gluon
COPY setup.py setup.cfg README.md ./
COPY lotr_gluon ./lotr_gluon
# Each wheel is an extra of setup.py that pins it (==1.9.1).
RUN case "$MXNET" in \
        mxnet) EXTRA=cpu ;; \
        mxnet-cu112) EXTRA=cu112 ;; \
        mxnet-cu117) EXTRA=cu117 ;; \
        *) echo "MXNET=$MXNET: expected mxnet, mxnet-cu112 or mxnet-cu117" >&2; exit 1 ;; \
    esac \
 && pip install ".[${EXTRA},onnx,detect]"

FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    MXNET_CUDNN_AUTOTUNE_DEFAULT=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common gpg-agent \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 libgl1 libglib2.0-0 libgomp1 \
 && apt-get purge -y software-properties-common gpg-agent \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
RUN useradd --create-home --uid 1000 --user-group lotr \
 && mkdir -p /home/lotr/.mxnet/models && chown -R lotr:lotr /home/lotr/.mxnet
ENV MXNET_HOME=/home/lotr/.mxnet
WORKDIR /opt/lotr_gluon
COPY --chown=lotr:lotr tools ./tools
COPY --chown=lotr:lotr experiments ./experiments
RUN mkdir -p runs data && chown lotr:lotr runs data
USER 1000:1000
HEALTHCHECK --interval=10m --timeout=60s --start-period=5s \
    CMD ["python", "tools/doctor.py", "--gpus", "all"]
ENTRYPOINT ["python"]
CMD ["tools/train.py", "--help"]

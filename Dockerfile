# LOTR (lotr_gluon) on NVIDIA GPUs: CUDA 11.2 + cuDNN 8, MXNet 1.9.1 (mxnet-cu112), Python 3.11.
#
#   docker build -t lotr-gluon .
#   docker run --gpus all -v /path/to/jd-landmark:/data -v $PWD/runs:/opt/lotr_gluon/runs \
#       lotr-gluon tools/train.py --config experiments/lotr_r+.yaml --set data.root=/data --gpus 0
#
# mxnet-cu112 carries kernels for sm_50 .. sm_86 (Maxwell to Ampere: K80 excluded, V100, T4,
# A100, RTX 30xx included). Hopper (H100, sm_90) and later are not supported by any MXNet
# release. Without a GPU, build with --build-arg MXNET=mxnet to get the CPU image.

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
# The [cu112] extra pins mxnet-cu112==1.9.1; the CPU image installs [cpu] instead.
RUN if [ "$MXNET" = "mxnet" ]; then EXTRA=cpu; else EXTRA=cu112; fi \
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
RUN useradd --create-home --uid 1000 --user-group lotr
WORKDIR /opt/lotr_gluon
COPY --chown=lotr:lotr tools ./tools
COPY --chown=lotr:lotr experiments ./experiments
RUN mkdir -p runs data && chown lotr:lotr runs data
USER 1000:1000
ENTRYPOINT ["python"]
CMD ["tools/train.py", "--help"]

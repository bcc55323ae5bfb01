"""Training and evaluation: the trainer loop, the evaluator and checkpoints."""

# MXNet's CPU workspaces (MXNET_CPU_TEMP_COPY) that SyncBatchNorm over several CPU contexts
# needs, so that no workspace is shared between the devices of one step (trainer.py). Here,
# in a module that does not import MXNet, because it must be set before MXNet starts.
CPU_TEMP_COPIES = 4096

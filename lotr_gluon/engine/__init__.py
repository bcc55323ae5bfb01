"""Training and evaluation: the trainer loop, the evaluator and checkpoints."""

# MXNet's CPU workspaces (MXNET_CPU_TEMP_COPY) that SyncBatchNorm over several CPU contexts
# needs, so that no workspace is shared between the devices of one step (trainer.py): more
# than a step of LOTR-M on two devices asks for. Each copy costs memory (4096 grew the test
# process to 25 GB of address space, and forks failed).
CPU_TEMP_COPIES = 1024

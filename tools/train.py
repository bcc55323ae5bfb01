"""Train a landmark model from a YAML experiment.

The run folder gets config.yaml (resolved), alignment.json (how many faces the detector
aligned), log.jsonl (one JSON line per epoch), last.ckpt (resume) and best.ckpt (best
validation AUC). The paper's experiment files align faces by the detector: run
tools/detect_faces.py over the data once first (or --set data.align_source=ground_truth).
They start the backbone from ImageNet (model.backbone_weights: imagenet), as the paper does:
gluoncv's model store in $MXNET_HOME/models (default ~/.mxnet/models), fetched by gluoncv on a
machine with internet; offline the run stops at once naming the file to put there. imagenet is
also the default of a config that does not say (lotr_gluon.get_model() defaults to random).
--set model.backbone_weights=none trains from random weights, =PATH loads a file, and
--set model.init_from=RUN/best.ckpt starts from a checkpoint's weights (fine-tuning, with a
fresh optimizer and schedule). With several GPUs, BatchNorm is synchronised across them
(train.sync_bn). Exit codes: 0 done, 1 error (bad config, missing weights, data or
detections, non-finite loss: the last good checkpoint is kept), 2 usage.

Examples:
  python tools/detect_faces.py --data /data/jd
  python tools/train.py --config experiments/lotr_r+.yaml --set data.root=/data/jd
  python tools/train.py --config experiments/lotr_m.yaml --set data.root=data/synth \\
      --set train.epochs=1 --out runs/try
  python tools/train.py --config experiments/lotr_m.yaml --gpus 0,1 --set data.root=/data/jd
  python tools/train.py --config experiments/demo_synthetic.yaml \\
      --set model.init_from=runs/pretrain/best.ckpt --out runs/finetune
  python tools/train.py --resume runs/lotr_m
"""
import argparse
import os
import sys

from lotr_gluon.cli import run_main
from lotr_gluon.runtime import configure_runtime

configure_runtime()  # MXNet's OpenMP threads, before anything imports mxnet


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="experiment YAML (e.g. experiments/lotr_m.yaml)")
    parser.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                        help="override a config value, repeatable (e.g. train.epochs=1)")
    parser.add_argument("--out", help="run folder (default runs/<config name>)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue the run in RUN_DIR from its last.ckpt and config.yaml")
    parser.add_argument("--gpus", default="",
                        help="comma-separated GPU ids; each batch is split across them "
                             "(default: CPU)")
    parser.add_argument("--kvstore", default="device",
                        help="device (default), nccl, or dist_sync / dist_device_sync for a "
                             "multi-worker job started by tools/launch.py")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not args.config and not args.resume:
        parser.error("give --config (a new run) or --resume RUN_DIR")

    from lotr_gluon.config import load_config
    from lotr_gluon.engine.trainer import NonFiniteLossError, Trainer, parse_devices
    from lotr_gluon.engine.workers import parameter_checksum

    if args.resume:
        run_dir = args.resume
        config = args.config or os.path.join(run_dir, "config.yaml")
        if not os.path.isfile(config):
            raise FileNotFoundError(f"--resume {run_dir}: no such run (a run folder holds "
                                    f"config.yaml and last.ckpt); start one with --config")
    else:
        config = args.config
        name = os.path.splitext(os.path.basename(config))[0]
        run_dir = args.out or os.path.join("runs", name)
    cfg = load_config(config, args.set)
    trainer = Trainer(cfg, run_dir, parse_devices(args.gpus), resume=bool(args.resume),
                      progress=not args.no_progress, kvstore=args.kvstore)
    worker = trainer.worker
    trainer.report(f"training {cfg.model.name} on {len(trainer.train_set)} faces "
                   f"({trainer.iters_per_epoch} iterations/epoch"
                   f"{f', {worker.num_workers} workers' if worker.distributed else ''}) "
                   f"into {run_dir}")
    try:
        trainer.fit()
    except NonFiniteLossError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if worker.distributed:  # every worker: equal checksums show the job stayed in sync
        print(f"worker {worker.rank}/{worker.num_workers}: parameter checksum "
              f"{parameter_checksum(trainer.net, trainer.ctx[0])}")
    if worker.is_chief:
        print(f"done: {run_dir}/best.ckpt (best validation AUC {trainer.best * 100:.2f}%)")
    return 0


if __name__ == "__main__":
    run_main(main)

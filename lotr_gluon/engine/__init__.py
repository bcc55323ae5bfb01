"""Training and evaluation: the trainer loop, the evaluator and checkpoints."""

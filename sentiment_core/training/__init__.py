"""The training stage: options, losses, the trainer, and what the Train page shows."""

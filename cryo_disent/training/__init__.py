"""Training: the Trainer, multi-process launch, and the conformance checks every model passes."""

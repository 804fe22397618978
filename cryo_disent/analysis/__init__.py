"""From latents and particles to answers: clustering, disentanglement and pose metrics, alignment, pose search,
classification and averaging."""

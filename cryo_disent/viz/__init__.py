"""Interactive figures of volumes, latents and runs, and the run explorer."""

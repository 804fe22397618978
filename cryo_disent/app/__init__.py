"""The application: the run folder and its stages, the pipeline, sweeps, the demo and the command line."""

"""Data on disk and in memory: MRC/STAR I/O, the dataset format, reproducible loaders, RELION projects and the toy
sets."""

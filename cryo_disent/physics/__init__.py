"""The physics of a subtomogram: rotations, Fourier grids, atomic models to density, the microscope (CTF, missing
wedge, noise) and the simulator."""

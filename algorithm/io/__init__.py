"""Small file-output helpers shared by the algorithm and training."""

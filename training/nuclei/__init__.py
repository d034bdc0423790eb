"""``python -m training nuclei``: the nuclei U-Net's data, training and scoring."""

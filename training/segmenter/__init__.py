"""Training the tumour segmenter: mask patches, BCE + Jaccard, validation IoU on whole slides."""

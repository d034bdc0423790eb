"""Training the mitotic-figure detector."""

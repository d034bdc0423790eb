"""Training the slide models: heatmap features -> tumour probability and major axis."""

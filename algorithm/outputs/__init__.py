"""Grand-challenge output values: what the platform stores and the evaluation reads."""

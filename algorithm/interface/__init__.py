"""The grand-challenge contract: where inputs are, where outputs go, in what form."""

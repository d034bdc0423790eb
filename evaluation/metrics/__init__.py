"""One module per metric family; each scores cases and aggregates them (pure functions, no I/O)."""

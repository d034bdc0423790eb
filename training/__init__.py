"""Training tools: ``python -m training <command>`` (synthetic slides, reference models)."""

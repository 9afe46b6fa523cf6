"""The steps of the transaction pipeline, one module per concern."""

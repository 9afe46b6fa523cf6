"""The scenario engine: enrollments, the operation ledger and its sends."""

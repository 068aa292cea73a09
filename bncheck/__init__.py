"""bncheck: derive, emit and verify the Batch Normalization backward pass."""

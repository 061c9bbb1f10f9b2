"""EventStore: writes, reads and maintenance on one executor of compiled statements."""

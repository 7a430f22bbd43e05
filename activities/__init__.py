"""Activities, one module per area: idempotent writes to PostgreSQL (plain `def`, run in a thread pool)."""

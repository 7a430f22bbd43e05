"""HTTP API: app factory, routes per area, schemas, auth."""

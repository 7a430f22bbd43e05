"""Pure rules of the scheme: no I/O, safe to import from workflow code."""

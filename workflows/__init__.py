"""Durable processes, one module per process; only domain code and temporalio are imported here."""

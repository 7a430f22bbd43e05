"""Request and response models per area."""

"""storefleet's services; each runs as `python -m services.<name>` and none imports another."""

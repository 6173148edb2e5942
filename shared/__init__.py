"""storefleet's shared library: event contracts, settings, logging, metrics and the
NATS, Postgres and Kubernetes adapters every service builds on."""

"""The provisioner: turns `store.requested` into a working, isolated store."""

"""The reaper: tears down store namespaces and sweeps orphans and stuck stores."""

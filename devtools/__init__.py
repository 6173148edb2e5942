"""Developer tooling: starts throwaway Postgres, NATS and a local Kubernetes control plane
for the tests, the benchmarks and `just up`. Never imported by `shared` or `services`."""

"""The controller's cost at scale, measured on the real control plane (`hack/bench.sh`)."""

"""The local cluster and its stand-ins, benchmarks, the demo: test fixtures, never product code."""

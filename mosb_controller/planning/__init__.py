"""Planning. Pure: what to build and write for one MachineOSConfig, from what is observed.

No I/O, no clock, no randomness (an import contract enforces it): `observed` is what a
pass sees, `plan.plan_mosc` the decision, `settle` the loop that answers its registry
questions with a function the caller brings.

- `inputs`: the build inputs, the MachineOSBuild's identity and per-architecture keys,
  or a `Refusal` saying why nothing can be built.
- `reuse`: which earlier image an architecture takes instead of building.
- `arch_state`: one architecture's build (and the push) from its Job and Pods.
- `status`, `events`: the status and events people read.
- `objects`: the Job and ConfigMap bodies (the build Job is rendered in `objects.build_job`).
- `hashing`: canonical, order-insensitive digests.
"""

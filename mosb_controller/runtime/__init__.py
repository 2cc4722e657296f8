"""The runtime: kopf handlers that notice changes, the work queues and loops that turn them
into plans and writes, leader election, metrics and logs.

- `handlers`: kopf indexes and events: thin; they only wake a loop.
- `queue`: a work queue of keys with per-key backoff, apart from what processes them.
- `builds`: the build loop: observe → plan → apply, per MachineOSConfig.
- `recorder`: the architecture record's loop.
- `written`: our own writes until the watch shows them.
- `leader`, `metrics`, `logs`.
"""

"""Cluster I/O: the only code that talks to the API server or a registry.

- `kube`: the API client, reads and idempotent writes, paginated lists.
- `informer`: the lean list-then-watch of Nodes.
- `lease`: the Lease behind leader election.
- `imagecheck`: does an image exist? (skopeo)
- `live`: the dry run's live reader.
"""

"""mosb-controller: multi-architecture on-cluster layering."""

"""`kubectl-mosb`: the kubectl/oc plugin (`kubectl mosb …`, `oc mosb …`)."""

"""Pure functions from a ModelDeployment to the manifests of its children: no I/O."""

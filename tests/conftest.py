"""Fixtures every test folder may use: the real control plane (`cluster`, `namespace`,
`restricted_namespace`) from hack/cluster/pytest_plugin.py."""

pytest_plugins = ["hack.cluster.pytest_plugin"]

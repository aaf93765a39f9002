"""The faults scenario's fixtures: its container, URL and worker count (read from molecule.yml and host_vars), and
`healthy`, which every fault test starts from."""

from faultlib import healthy  # noqa: F401 (fixtures: pytest finds them by name)
from scenario import container, url, workers  # noqa: F401

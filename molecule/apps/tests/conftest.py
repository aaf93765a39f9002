"""The apps scenario's fixtures: its container and URL, read from molecule.yml."""

from scenario import container, url  # noqa: F401 (fixtures: pytest finds them by name)

"""The default scenario's fixtures: its container, URLs and certificates, read from molecule.yml."""

from scenario import container, http_url, tls_dir, url  # noqa: F401 (fixtures: pytest finds them by name)

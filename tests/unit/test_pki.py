"""The test certificate helper: a pair that belongs together, for the names and addresses asked for."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pki import self_signed, write_key


def test_the_pair_matches_and_names_localhost_by_default(tmp_path: Path) -> None:
    der = self_signed(tmp_path / "site.crt", tmp_path / "site.key")
    certificate = x509.load_pem_x509_certificate((tmp_path / "site.crt").read_bytes())
    key = serialization.load_pem_private_key((tmp_path / "site.key").read_bytes(), password=None)
    assert certificate.public_bytes(serialization.Encoding.DER) == der
    assert certificate.public_key() == key.public_key()
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days == 30


def test_a_new_pair_each_time_and_a_key_of_its_own(tmp_path: Path) -> None:
    first = self_signed(tmp_path / "a.crt", tmp_path / "a.key", names=("redis.test",), ips=(), days=1)
    assert self_signed(tmp_path / "a.crt", tmp_path / "a.key") != first
    other = write_key(tmp_path / "other.key")
    certificate = x509.load_pem_x509_certificate((tmp_path / "a.crt").read_bytes())
    assert certificate.public_key() != other.public_key()

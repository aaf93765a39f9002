"""One validation run per role for the whole table, started together, shared by every test."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cases import BASE, ROLE_NAMES, STRINGS, cases_of, strings_host
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from validationlib import RoleRun, positive_host, results, start_run, write_run


def _write_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key


def _write_pair(cert: Path, key_path: Path) -> None:
    key = _write_key(key_path)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "validation.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _make_files(files: Path) -> None:
    """Inputs some rows point at: `{files}/...` in cases.py."""
    (files / "tls").mkdir(parents=True)
    _write_pair(files / "tls" / "site.crt", files / "tls" / "site.key")
    _write_key(files / "tls" / "other.key")
    (files / "tls" / "not-a-certificate.pem").write_text("not a certificate\n")
    (files / "empty").mkdir()
    (files / "notes.txt").write_text("not a wheel\n")
    (files / "requirements-unpinned.txt").write_text("flask\n")
    (files / "app.conf.j2").write_text("setting = 1\n")


def _substitute(value: Any, files: Path) -> Any:
    if isinstance(value, str):
        return value.replace("{files}", str(files))
    if isinstance(value, list):
        return [_substitute(item, files) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, files) for key, item in value.items()}
    return value


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RoleRun]:
    """Every role's table in one --check run per role, the three runs side by side."""
    workdir = tmp_path_factory.mktemp("validation")
    _make_files(workdir / "files")
    started = {}
    for role in ROLE_NAMES:
        hosts: dict[str, dict[str, Any]] = {positive_host(role): dict(BASE[role])}
        if role in STRINGS:
            hosts[strings_host(role)] = {**BASE[role], **STRINGS[role]}
        for case in cases_of(role):
            hosts[case.host] = {**BASE[role], **_substitute(case.given, workdir / "files")}
        write_run(role, hosts, workdir / role)
        started[role] = start_run(workdir / role)
    return {role: RoleRun(*results(process)) for role, process in started.items()}

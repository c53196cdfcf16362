"""Key sources: PEM files (reloaded on change, fail closed), HMAC secrets, key types and algorithms."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from airflow_platform_plugins.auth.keys import HmacSecret, PemFile, load_pem_public_keys
from tests.unit.auth.conftest import FakeClock, Key


def test_a_key_accepts_only_algorithms_of_its_type(rsa_key: Key, ec_key: Key) -> None:
    (rsa_,) = load_pem_public_keys(rsa_key.pem())
    (ec_,) = load_pem_public_keys(ec_key.pem())
    assert [a for a in ("RS256", "PS512", "ES256", "HS256", "none", "EdDSA") if rsa_.accepts(a)] == [
        "RS256",
        "PS512",
    ]
    assert [a for a in ("ES256", "ES384", "RS256", "HS256") if ec_.accepts(a)] == ["ES256"]
    (secret,) = HmacSecret(b"k" * 32).lookup("HS256", None, may_fetch=False)
    assert [a for a in ("HS256", "HS512", "RS256", "ES256") if secret.accepts(a)] == ["HS256", "HS512"]
    assert HmacSecret(b"k" * 32).lookup("RS256", None, may_fetch=False) == []


def test_certificates_and_several_keys_are_read(rsa_key: Key, ec_key: Key) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public)
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key.private, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM) + ec_key.pem()
    assert [k.kty for k in load_pem_public_keys(pem)] == ["RSA", "EC"]


def test_private_keys_are_refused(rsa_key: Key) -> None:
    private = rsa_key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="private key"):
        load_pem_public_keys(private)


def test_weak_rsa_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    pem = weak.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="1024 bits"):
        load_pem_public_keys(pem)


def test_short_hmac_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        HmacSecret("too-short")


def test_pem_file_is_reloaded_when_it_changes(tmp_path: Path, rsa_key: Key, rsa_key2: Key) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(rsa_key.pem())
    clock = FakeClock()
    source = PemFile(path, clock=clock)
    first = source.lookup("RS256", None, may_fetch=False)
    # A Kubernetes secret update: a new file swapped in under the same name.
    replacement = tmp_path / "new.pem"
    replacement.write_bytes(rsa_key2.pem())
    os.replace(replacement, path)
    assert source.lookup("RS256", None, may_fetch=False) == first  # checked at most once a second
    clock.advance(1.1)
    second = source.lookup("RS256", None, may_fetch=False)
    assert [k.key.public_numbers() for k in second] == [rsa_key2.public.public_numbers()]
    assert source.reloads == 2


def test_pem_file_that_breaks_refuses_everything_until_fixed(tmp_path: Path, rsa_key: Key) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(rsa_key.pem())
    clock = FakeClock()
    source = PemFile(path, clock=clock)
    path.write_bytes(b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
    clock.advance(2)
    assert source.lookup("RS256", None, may_fetch=False) == []
    path.unlink()
    clock.advance(2)
    assert source.lookup("RS256", None, may_fetch=False) == []
    path.write_bytes(rsa_key.pem())
    clock.advance(2)
    assert len(source.lookup("RS256", None, may_fetch=False)) == 1


def test_a_missing_or_bad_pem_file_fails_at_startup(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        PemFile(tmp_path / "absent.pem")
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(ValueError, match="no PEM public key"):
        PemFile(tmp_path / "empty.pem")

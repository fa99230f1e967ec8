"""The site certificate authority and the broker's TLS certificate (``cryptography``, EC P-256).

The CA lives ten years and only signs the broker's and the hub's certificates; those live about two
and a quarter years (825 days, what browsers and most TLS stacks accept) and name the hub machine's
LAN addresses and ``localhost``. Devices trust the CA certificate, never the system store.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning.errors import ProvisionError

CA_DAYS = 3650
BROKER_DAYS = 825
#: ``site check`` warns when a certificate ends sooner than this.
WARN_DAYS = 60
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_key() -> ec.EllipticCurvePrivateKey:
    """A new EC P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (the file holding it is 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    """A certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, site_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"onestop {site_id}"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    site_id: str, *, now: datetime | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new site CA: key and self-signed certificate, valid :data:`CA_DAYS` days."""
    now = now or datetime.now(UTC)
    key = new_key()
    name = _name(f"onestop site CA {site_id}", site_id)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _san(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for host in [*LOCAL_NAMES, *hosts]:
        host = host.strip().strip("[]")
        if not host or host in seen:
            continue
        seen.add(host)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def make_broker_cert(
    site_id: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: list[str],
    *,
    now: datetime | None = None,
    days: int = BROKER_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new broker key and certificate signed by the CA, naming ``hosts`` plus localhost."""
    return make_server_cert("broker", site_id, ca_key, ca_cert, hosts, now=now, days=days)


def make_hub_cert(
    site_id: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: list[str],
    *,
    now: datetime | None = None,
    days: int = BROKER_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and HTTPS certificate for the hub, signed by the CA, naming ``hosts`` plus localhost."""
    return make_server_cert("hub", site_id, ca_key, ca_cert, hosts, now=now, days=days)


def make_server_cert(
    role: str,
    site_id: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: list[str],
    *,
    now: datetime | None = None,
    days: int = BROKER_DAYS,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new TLS server key and certificate (``role``: broker or hub) signed by the CA."""
    now = now or datetime.now(UTC)
    key = new_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"onestop {role} {site_id}", site_id))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def load_cert(path: Path) -> x509.Certificate:
    """Read a PEM certificate; :class:`ProvisionError` when missing or unreadable."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise ProvisionError(f"{path} is missing") from None
    except ValueError as exc:
        raise ProvisionError(f"{path} is not a PEM certificate: {exc}") from None


def load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read a PEM EC private key; :class:`ProvisionError` when missing or unreadable."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ProvisionError(f"{path} is missing") from None
    except (ValueError, TypeError) as exc:
        raise ProvisionError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProvisionError(f"{path}: expected an EC key, found {type(key).__name__}")
    return key


def names_host(cert: x509.Certificate, host: str) -> bool:
    """True when ``cert``'s SANs cover ``host`` (an IP address, a DNS name, or a ``*.`` wildcard)."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host) in {ipaddress.ip_address(h) for h in _ip_sans(cert)}
    except ValueError:
        pass
    for name in _dns_sans(cert):
        name = name.lower()
        if name == host or (
            name.startswith("*.") and host.count(".") == name.count(".") and host.endswith(name[1:])
        ):
            return True
    return False


def _san_of(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _dns_sans(cert: x509.Certificate) -> list[str]:
    san = _san_of(cert)
    return san.get_values_for_type(x509.DNSName) if san else []


def _ip_sans(cert: x509.Certificate) -> list[str]:
    san = _san_of(cert)
    return [str(a) for a in san.get_values_for_type(x509.IPAddress)] if san else []


def san_hosts(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate is valid for."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [
        *san.get_values_for_type(x509.DNSName),
        *(str(a) for a in san.get_values_for_type(x509.IPAddress)),
    ]


def same_public_key(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bool:
    """True when ``key`` is the private half of ``cert``'s public key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """True when ``cert`` carries a valid signature of ``ca``."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class Validity:
    """How a certificate stands today."""

    not_after: datetime
    days_left: int

    @property
    def expired(self) -> bool:
        """The certificate has ended."""
        return self.days_left < 0

    @property
    def ending_soon(self) -> bool:
        """Less than :data:`WARN_DAYS` days are left."""
        return 0 <= self.days_left < WARN_DAYS


def validity(cert: x509.Certificate, now: datetime | None = None) -> Validity:
    """Days left until ``cert`` ends (negative once it has)."""
    now = now or datetime.now(UTC)
    end = cert.not_valid_after_utc
    left = end - now
    return Validity(end, left.days if left >= timedelta(0) else -1 - (-left).days)

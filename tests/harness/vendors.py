"""Tokens and key publications in the formats of the proxies that cannot run here (AWS ALB, Google IAP,
Cloudflare Access, Pomerium), issued by the test identity provider. Each follows the vendor's page:

- AWS ALB: "Authenticate users using an Application Load Balancer", section "User claims encoding and
  signature verification" (docs.aws.amazon.com/elasticloadbalancing/latest/application/
  listener-authenticate-users.html): ``x-amzn-oidc-data``, ES256, base64url segments *with* padding,
  JOSE header ``alg``, ``kid``, ``signer`` (ALB ARN), ``iss``, ``client``, ``exp``; payload from the
  IdP's userinfo (``sub``, ``email``, ...) plus ``exp`` and ``iss``; no ``aud``; the PEM public key
  of each ``kid`` at ``https://public-keys.auth.elb.<region>.amazonaws.com/<kid>``.
- Google IAP: "Securing your app with signed headers" (cloud.google.com/iap/docs/signed-headers-howto):
  ``x-goog-iap-jwt-assertion``, ES256, ``iss`` ``https://cloud.google.com/iap``, ``aud``
  ``/projects/<number>/global/backendServices/<id>``, ``sub`` ``accounts.google.com:<id>``, ``email``,
  ``hd``; keys as a JWKS at ``https://www.gstatic.com/iap/verify/public_key-jwk``.
- Cloudflare Access: "Validate JWTs" (developers.cloudflare.com/cloudflare-one/identity/
  authorization-cookie/validating-json/): ``Cf-Access-Jwt-Assertion``, RS256, ``aud`` a list with the
  application's AUD tag, ``iss`` the team domain, ``email``, ``sub``, ``type`` ``app``,
  ``identity_nonce``, ``country``; keys at ``https://<team>.cloudflareaccess.com/cdn-cgi/access/certs``
  as ``{"keys": [...], "public_cert": {...}, "public_certs": [...]}``.
- Pomerium: "Identity verification" / "Getting the user's identity" (pomerium.com/docs/capabilities/
  getting-users-identity): ``X-Pomerium-Jwt-Assertion``, ES256, ``iss`` and ``aud`` the route's host,
  ``sub``, ``email``, ``groups``, ``user``, ``jti``, ``iat``, ``exp``; keys at
  ``/.well-known/pomerium/jwks.json`` on the route.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from tests.harness.idp import IdentityProvider, SigningKey, new_key

ALB_REGION = "eu-west-1"
ALB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/airflow/50dc6c495c0c9188"
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_AUDIENCE = "/projects/123456789012/global/backendServices/4567890123456789"
CLOUDFLARE_AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"


def _b64(data: bytes, pad: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


def pem(key: SigningKey) -> bytes:
    return bytes(
        key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


class Alb:
    """ALB's signing keys for one region, published per kid at ``/alb/<region>/<kid>`` on the IdP."""

    def __init__(self, idp: IdentityProvider, region: str = ALB_REGION, arn: str = ALB_ARN) -> None:
        self.idp = idp
        self.region = region
        self.arn = arn
        self.key = self.publish(region)
        self.key_url = f"{idp.url}/alb/{{region}}/{{kid}}"

    def publish(self, region: str) -> SigningKey:
        key = new_key("ES256")
        key.kid = (
            f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        )
        self.idp.serve(f"/alb/{region}/{key.kid}", pem(key), "text/plain")
        return key

    def token(
        self,
        username: str,
        *,
        key: SigningKey | None = None,
        signer: str | None = None,
        kid: str | None = None,
        pad: bool = True,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        key = key or self.key
        now = int(time.time())
        profile = self.idp.claims_for(username)
        jose = {
            "typ": "JWT",
            "kid": kid if kid is not None else key.kid,
            "alg": "ES256",
            "iss": self.idp.issuer,
            "client": "airflow-alb-client",
            "signer": signer or self.arn,
            "exp": now + 120,
            **(header or {}),
        }
        payload = {
            "sub": profile["sub"],
            "email": profile.get("email"),
            "groups": profile.get("groups"),
            "username": username,
            "exp": now + 120,
            "iss": self.idp.issuer,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        signing_input = f"{_b64(json.dumps(jose).encode(), pad)}.{_b64(json.dumps(payload).encode(), pad)}"
        signature = jwt.get_algorithm_by_name("ES256").sign(signing_input.encode(), key.private)
        return f"{signing_input}.{_b64(signature, pad)}"


class Iap:
    """IAP's keys (ES256 JWKS at the gstatic path) and tokens."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.idp = idp
        self.key = new_key("ES256")
        self.jwks_url = idp.serve(
            "/iap/verify/public_key-jwk", json.dumps({"keys": [self.key.jwk()]}).encode()
        )

    def token(self, username: str, **claims: Any) -> str:
        now = int(time.time())
        email = self.idp.claims_for(username).get("email")
        body = {
            "iss": IAP_ISSUER,
            "aud": IAP_AUDIENCE,
            "sub": f"accounts.google.com:{abs(hash(username))}",
            "email": email,
            "hd": "example.org",
            "iat": now,
            "exp": now + 600,
            "google": {"access_levels": []},
            **claims,
        }
        return jwt.encode(body, self.key.private, algorithm="ES256", headers={"kid": self.key.kid})


def _self_signed(key: SigningKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test.cloudflareaccess.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key.private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class CloudflareAccess:
    """A team domain served by the IdP: the certs document and application tokens (RS256)."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.idp = idp
        self.team = f"{idp.url}/cf"  # stands for https://<team>.cloudflareaccess.com
        self.keys = [new_key("RS256"), new_key("RS256")]
        certs = [{"kid": k.kid, "cert": _self_signed(k)} for k in self.keys]
        document = {"keys": [k.jwk() for k in self.keys], "public_cert": certs[0], "public_certs": certs}
        idp.serve("/cf/cdn-cgi/access/certs", json.dumps(document).encode())

    def token(self, username: str, **claims: Any) -> str:
        now = int(time.time())
        profile = self.idp.claims_for(username)
        body = {
            "aud": [CLOUDFLARE_AUD],
            "email": profile.get("email"),
            "exp": now + 600,
            "iat": now,
            "nbf": now,
            "iss": self.team,
            "type": "app",
            "identity_nonce": secrets.token_urlsafe(12),
            "sub": profile["sub"],
            "country": "NL",
            **claims,
        }
        key = self.keys[1]
        return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid})


class Pomerium:
    """A Pomerium route served by the IdP: its JWKS and its assertion tokens (ES256)."""

    def __init__(self, idp: IdentityProvider) -> None:
        self.idp = idp
        self.host = "airflow.pomerium.test"  # the route's host; its JWKS is served by the IdP
        self.key = new_key("ES256")
        self.jwks_url = idp.serve(
            "/pomerium/.well-known/pomerium/jwks.json", json.dumps({"keys": [self.key.jwk()]}).encode()
        )

    def token(self, username: str, **claims: Any) -> str:
        now = int(time.time())
        profile = self.idp.claims_for(username)
        body = {
            "iss": self.host,
            "aud": self.host,
            "sub": profile["sub"],
            "user": profile["sub"],
            "email": profile.get("email"),
            "groups": profile.get("groups", []),
            "name": username,
            "jti": secrets.token_hex(8),
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, self.key.private, algorithm="ES256", headers={"kid": self.key.kid})

"""Identity for tests: the development IdP once per session, real tokens from it, and forgeries of them.

The IdP is started with a signing key the test session generated (CPIP_IDP_JWKS_FILE), so a test can
re-sign a real token's claims with the IdP's own key and kid — an expired token, one without `sub`, one
holding conflicting roles — exactly as the IdP would have signed it, without any mock of the validator.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from jwcrypto.jws import JWS
from keycloak import KeycloakOpenID

from tests.support.idp import RunningIdp, start_idp

PEOPLE = ("li.na", "zhang.wei", "wang.fang", "zhao.lei", "chen.dev", "admin")
DEPARTMENTS = ("psb", "samr", "nrb", "hurd", "stats", "civil")
CLI_CLIENT = "cpip-cli"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, payload (both decoded, unverified) and the raw signature segment of a compact JWS."""
    header, payload, signature = token.split(".")

    def load(segment: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return decoded

    return load(header), load(payload), signature


@dataclass
class IdpKeys:
    """The IdP's signing key, held by the test session."""

    private: JWK

    @property
    def kid(self) -> str:
        return str(self.private.get("kid"))

    def public_pem(self) -> bytes:
        pem: bytes = self.private.export_to_pem(private_key=False)
        return pem

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None, key: JWK | None = None) -> str:
        """A compact JWS over `claims`, RS256 with the IdP's key unless told otherwise."""
        protected = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        jws = JWS(json.dumps(claims).encode())
        jws.add_signature(key or self.private, alg=protected["alg"], protected=json.dumps(protected))
        compact: str = jws.serialize(compact=True)
        return compact


@pytest.fixture(scope="session")
def idp_keys(tmp_path_factory: pytest.TempPathFactory) -> IdpKeys:
    return IdpKeys(JWK.generate(kty="RSA", size=2048, kid="cpip-test-" + os.urandom(6).hex(), alg="RS256",
                                use="sig"))


def _start_with_key(keys: IdpKeys, directory: Path, realm_file: Path | None = None) -> RunningIdp:
    jwks_file = directory / "idp-jwks.json"
    jwks_file.write_text(json.dumps({"keys": [json.loads(keys.private.export_private())]}), encoding="utf-8")
    previous = os.environ.get("CPIP_IDP_JWKS_FILE")
    # tests/support/idp.py passes the environment on to node; server.mjs reads its key file from there.
    os.environ["CPIP_IDP_JWKS_FILE"] = str(jwks_file)
    try:
        return start_idp(realm_file)
    finally:
        if previous is None:
            os.environ.pop("CPIP_IDP_JWKS_FILE", None)
        else:
            os.environ["CPIP_IDP_JWKS_FILE"] = previous


@pytest.fixture(scope="session")
def idp(idp_keys: IdpKeys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIdp]:
    running = _start_with_key(idp_keys, tmp_path_factory.mktemp("idp"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def start_other_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningIdp]]:
    """Start further IdPs (another realm, another key); all are stopped at the end of the session."""
    started: list[RunningIdp] = []

    def start(realm_file: Path | None = None, keys: IdpKeys | None = None) -> RunningIdp:
        running = (_start_with_key(keys, tmp_path_factory.mktemp("idp-other"), realm_file) if keys
                   else start_idp(realm_file))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def fetch_token(idp: RunningIdp, name: str) -> dict[str, Any]:
    """A token response from `idp` for a person (password grant) or a `dept-<code>` client."""
    if name.startswith("dept-"):
        client = KeycloakOpenID(server_url=idp.base_url, realm_name=idp.realm, client_id=name,
                                client_secret_key=f"{name}-dev-secret")
        response: dict[str, Any] = client.token(grant_type="client_credentials")
        return response
    client = KeycloakOpenID(server_url=idp.base_url, realm_name=idp.realm, client_id=CLI_CLIENT)
    response = client.token(name, f"{name}-dev-pw")
    return response


@pytest.fixture(scope="session")
def token_for(idp: RunningIdp) -> Callable[[str], str]:
    """`token_for("li.na")` or `token_for("dept-psb")`: a fresh-enough access token from the session IdP."""
    cache: dict[str, tuple[str, float]] = {}

    def get(name: str) -> str:
        cached = cache.get(name)
        if cached is not None and cached[1] - time.time() > 60:
            return cached[0]
        token = str(fetch_token(idp, name)["access_token"])
        cache[name] = (token, float(parts(token)[1]["exp"]))
        return token

    return get


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

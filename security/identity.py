"""OIDC bearer-token validation against Keycloak (or the development IdP, which serves Keycloak's URLs).

The gateway validates RS256 access tokens itself with python-keycloak's `decode_token`, against a JWKS it
caches: keys are fetched once, and again only when a token names a `kid` the cache does not hold (key
rotation), and that refetch happens at most once per `oidc_jwks_refetch_seconds`, so a stream of tokens with
made-up kids cannot turn the gateway into a load generator against the IdP.

Cheap structural checks (size, algorithm, issuer) run on the unverified token *before* any key lookup: they
can only reject, never accept, and a foreign issuer's token must not trigger a JWKS refetch.

Audience: the token's `aud` must contain `oidc_audience` (Keycloak's audience mapper puts the gateway's
client id there). A token whose `azp` is the gateway's own client is accepted without it, because Keycloak
does not list the requesting client in `aud` — that is the token the gateway obtained for itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from jwcrypto.common import JWException
from jwcrypto.jwk import JWK, JWKSet
from jwcrypto.jws import InvalidJWSObject, InvalidJWSOperation, InvalidJWSSignature
from jwcrypto.jwt import (
    JWTExpired,
    JWTInvalidClaimFormat,
    JWTInvalidClaimValue,
    JWTMissingClaim,
    JWTMissingKey,
    JWTNotYetValid,
)
from keycloak import KeycloakOpenID

from cpip.errors import Forbidden, ProblemError, ServiceUnavailable
from cpip.settings import Settings
from security.principals import Principal, PrincipalKind, Role

# Keycloak's tokens are a few KB at most; anything this big is an attack or a misconfiguration.
MAX_TOKEN_BYTES = 8 * 1024
SERVICE_ACCOUNT_PREFIX = "service-account-"
VERIFIED_CACHE_SIZE = 4096
ACCEPTED_TOKEN_TYPE = "Bearer"  # noqa: S105 - a token type name, not a secret


class TokenRejected(ProblemError):
    """The bearer token is not acceptable; `reason` says why in a stable, machine-readable word."""

    slug, status, title = "invalid-token", 401, "The access token is not valid"

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


class SeparationOfDuties(Forbidden):
    """The principal holds roles GB/T 39477-2020 keeps apart (administration and audit)."""

    slug, status, title = "separation-of-duties", 403, "Conflicting roles"


class IdentityProviderUnavailable(ServiceUnavailable):
    """The identity provider's keys could not be fetched, so no token can be checked."""

    slug, status, title = "identity-provider-unavailable", 503, "Identity provider unreachable"


# Role pairs no principal may hold together (GB/T 39477-2020: administration, audit, operation apart).
CONFLICTING_ROLES: tuple[frozenset[Role], ...] = (frozenset({Role.platform_admin, Role.security_officer}),)


def _b64_json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise TokenRejected("malformed", f"the token's {what} is not base64url JSON") from exc
    if not isinstance(value, dict):
        raise TokenRejected("malformed", f"the token's {what} is not a JSON object")
    return value


def _clean(text: str) -> str:
    # Details travel in WWW-Authenticate's quoted string and in logs: no quotes, no control characters.
    return re.sub(r'[\x00-\x1f"\\]', "'", text)[:200]


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Map verified Keycloak claims to a Principal; refuse role sets that break separation of duties."""
    username = claims.get("preferred_username")
    username = username if isinstance(username, str) else None
    azp = claims.get("azp")
    client_id = azp if isinstance(azp, str) else None
    # Keycloak marks client_credentials tokens two ways: the service-account user's name, and (since 12)
    # a `client_id` claim that only service-account tokens carry.
    service = (username or "").startswith(SERVICE_ACCOUNT_PREFIX) or isinstance(claims.get("client_id"), str)
    realm_access = claims.get("realm_access")
    raw_roles = realm_access.get("roles", []) if isinstance(realm_access, dict) else []
    known = {role.value for role in Role}
    roles = frozenset(Role(r) for r in raw_roles if isinstance(r, str) and r in known) if isinstance(
        raw_roles, list) else frozenset()
    for conflict in CONFLICTING_ROLES:
        if conflict <= roles:
            raise SeparationOfDuties(
                f"the account holds {', '.join(sorted(conflict))} together, which GB/T 39477-2020 forbids; "
                "an administrator must remove one of them in the identity provider",
                roles=sorted(r.value for r in conflict),
            )
    department = claims.get("department")
    return Principal(
        kind=PrincipalKind.service_account if service else PrincipalKind.person,
        subject=str(claims["sub"]),
        username=username,
        client_id=client_id,
        department=department if isinstance(department, str) and department else None,
        roles=roles,
    )


class TokenValidator:
    """Validates access tokens of one realm; one instance per gateway process (it holds the JWKS cache)."""

    def __init__(
        self,
        *,
        server_url: str,
        realm: str,
        audience: str,
        leeway_seconds: int = 30,
        refetch_seconds: float = 30.0,
        algorithms: tuple[str, ...] = ("RS256",),
        jwks: JWKSet | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.server_url = server_url if server_url.endswith("/") else server_url + "/"
        self.realm = realm
        self.audience = audience
        self.issuer = f"{self.server_url}realms/{realm}"
        self.leeway = leeway_seconds
        self.refetch_seconds = refetch_seconds
        self.algorithms = algorithms
        self._openid = KeycloakOpenID(server_url=self.server_url, realm_name=realm, client_id=audience, timeout=10)
        self._jwks = jwks
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._last_fetch: float | None = None
        self._inflight: asyncio.Task[bool] | None = None
        # Tokens already verified, until they expire: a client sends the same token for minutes, and one
        # RS256 check (~150 µs with jwcrypto) per token instead of per request keeps auth off the hot path.
        self._verified: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self.jwks_fetches = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenValidator:
        return cls(server_url=settings.oidc_server_url, realm=settings.oidc_realm,
                   audience=settings.oidc_audience, leeway_seconds=settings.oidc_leeway_seconds,
                   refetch_seconds=settings.oidc_jwks_refetch_seconds)

    # ---------------------------------------------------------------- keys

    def _fetch_jwks(self) -> JWKSet:
        # python-keycloak's synchronous certs() runs in a worker thread: fetches are rare, and its async
        # client would tie the validator to one event loop.
        certs = self._openid.certs()
        keys = [k for k in certs.get("keys", []) if k.get("use", "sig") == "sig"]
        return JWKSet.from_json(json.dumps({"keys": keys}))

    async def _refetch(self) -> bool:
        """Fetch the JWKS unless one was fetched within `refetch_seconds`; True if a fetch happened."""
        if self._inflight is not None and not self._inflight.done():
            return await asyncio.shield(self._inflight)
        now = self._monotonic()
        if self._last_fetch is not None and now - self._last_fetch < self.refetch_seconds:
            return False
        self._last_fetch = now
        self.jwks_fetches += 1

        async def run() -> bool:
            try:
                self._jwks = await asyncio.to_thread(self._fetch_jwks)
            except Exception as exc:  # any transport or format failure: keep the old keys
                if self._jwks is None:
                    raise IdentityProviderUnavailable(
                        f"could not fetch signing keys from {self.issuer}: {type(exc).__name__}") from exc
                return False
            return True

        self._inflight = asyncio.ensure_future(run())
        return await asyncio.shield(self._inflight)

    async def key_for(self, kid: str) -> JWK | None:
        if self._jwks is None:
            await self._refetch()
        key = self._jwks.get_key(kid) if self._jwks is not None else None
        if key is None and await self._refetch() and self._jwks is not None:
            key = self._jwks.get_key(kid)
        return key

    # ---------------------------------------------------------------- validation

    def _precheck(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if not token or len(token.encode("utf-8", "replace")) > MAX_TOKEN_BYTES:
            raise TokenRejected("malformed", "the token is empty or larger than 8 KB")
        parts = token.split(".")
        if len(parts) == 5:
            raise TokenRejected("malformed", "encrypted (JWE) tokens are not accepted")
        if len(parts) != 3:
            raise TokenRejected("malformed", "the token is not a compact JWS (header.payload.signature)")
        header = _b64_json(parts[0], "header")
        claims = _b64_json(parts[1], "payload")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenRejected("alg-none", "unsigned tokens (alg none) are not accepted")
        if alg not in self.algorithms:
            raise TokenRejected("alg-not-allowed",
                                f"algorithm {_clean(alg)} is not accepted; tokens must be {', '.join(self.algorithms)}")
        if not parts[2]:
            raise TokenRejected("bad-signature", "the token has no signature")
        iss = claims.get("iss")
        if iss != self.issuer:
            realm_prefix = f"{self.server_url}realms/"
            if isinstance(iss, str) and iss.startswith(realm_prefix):
                raise TokenRejected("wrong-realm", f"the token is from realm {_clean(iss[len(realm_prefix):])}, "
                                                   f"not {self.realm}")
            if iss is None:
                raise TokenRejected("missing-claim", "the token has no iss claim")
            raise TokenRejected("wrong-issuer", f"the token was issued by {_clean(str(iss))}, "
                                                     f"not {self.issuer}")
        return header, claims

    def _decode(self, token: str, key: JWK, unverified: dict[str, Any]) -> dict[str, Any]:
        check_claims: dict[str, Any] = {"iss": self.issuer, "exp": None, "sub": None}
        if unverified.get("azp") != self.audience:
            check_claims["aud"] = self.audience
        try:
            options: dict[str, Any] = {"key": key, "check_claims": check_claims, "leeway": self.leeway,
                                       "algs": list(self.algorithms)}
            claims: dict[str, Any] = self._openid.decode_token(token, **options)
        except JWTExpired as exc:
            raise TokenRejected("expired", "the token has expired") from exc
        except JWTNotYetValid as exc:
            raise TokenRejected("not-yet-valid", "the token is not valid yet") from exc
        except JWTMissingClaim as exc:
            found = re.search(r"Claim (\w+) is missing", str(exc))
            name = found.group(1) if found else "a required claim"
            raise TokenRejected("missing-claim", f"the token has no {name} claim") from exc
        except JWTInvalidClaimValue as exc:
            if "'aud'" in str(exc):
                raise TokenRejected("wrong-audience", f"the token is not meant for {self.audience}") from exc
            raise TokenRejected("invalid-claim", _clean(str(exc))) from exc
        except JWTInvalidClaimFormat as exc:
            raise TokenRejected("invalid-claim", _clean(str(exc))) from exc
        except JWTMissingKey as exc:
            raise TokenRejected("unknown-kid", "no signing key matches the token") from exc
        except InvalidJWSSignature as exc:
            raise TokenRejected("bad-signature", "the token's signature does not verify") from exc
        except InvalidJWSOperation as exc:
            raise TokenRejected("alg-not-allowed", "the token's algorithm is not accepted") from exc
        except (InvalidJWSObject, JWException, ValueError, TypeError, KeyError) as exc:
            raise TokenRejected("malformed", "the token cannot be decoded") from exc
        return claims

    def _postcheck(self, claims: dict[str, Any]) -> None:
        now = self._wall_clock()
        # jwcrypto checks nbf only when it is listed in check_claims, which would make it mandatory.
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not isinstance(value, int | float) or value > now + self.leeway):
                raise TokenRejected("not-yet-valid", f"the token's {name} lies in the future")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenRejected("missing-claim", "the token has no sub claim")
        typ = claims.get("typ")
        if typ is not None and typ != ACCEPTED_TOKEN_TYPE:
            # Keycloak's ID and refresh tokens are signed by the same key; only access tokens may call the API.
            raise TokenRejected("wrong-token-type", f"a {_clean(str(typ))} token is not an access token")

    async def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`, or TokenRejected naming the reason."""
        header, unverified = self._precheck(token)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("unknown-kid", "the token names no key id (kid)")
        key = await self.key_for(kid)
        if key is None:
            raise TokenRejected("unknown-kid", f"no signing key {_clean(kid)} in {self.issuer}")
        claims = self._decode(token, key, unverified)
        self._postcheck(claims)
        return claims

    async def validate(self, token: str) -> Principal:
        """The principal `token` stands for; TokenRejected (401) or SeparationOfDuties (403) otherwise."""
        digest = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        cached = self._verified.get(digest)
        if cached is not None:
            principal, expires = cached
            if expires + self.leeway >= self._wall_clock():
                self._verified.move_to_end(digest)
                return principal
            del self._verified[digest]  # expired: the full check below says so with the right reason
        claims = await self.claims(token)
        principal = principal_from_claims(claims)
        self._verified[digest] = (principal, float(claims["exp"]))
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

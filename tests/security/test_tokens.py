"""Token validation against the development IdP: real tokens, and forgeries made from real tokens.

Forgeries are re-signed with the IdP's own key (the test session generated it, see auth_fixtures), or with
keys and algorithms an attacker would try; the validator under test is the production one, pointed at the
running IdP through settings alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jwcrypto.jwk import JWK, JWKSet

from cpip.settings import Settings
from security.identity import (
    IdentityProviderUnavailable,
    SeparationOfDuties,
    TokenRejected,
    TokenValidator,
)
from security.principals import PrincipalKind, Role
from tests.support.auth_fixtures import IdpKeys, b64url, b64url_json, fetch_token, parts
from tests.support.idp import DEFAULT_REALM_FILE, RunningIdp


def validator_for(idp: RunningIdp, **overrides: Any) -> TokenValidator:
    """The validator exactly as the gateway builds it: from settings."""
    options: dict[str, Any] = {"oidc_server_url": idp.base_url, "oidc_realm": idp.realm, **overrides}
    return TokenValidator.from_settings(Settings(**options))


def resigned(keys: IdpKeys, token: str, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """`token`'s claims with some changed (a value of None removes the claim), signed by the IdP's key."""
    _, payload, _ = parts(token)
    for name, value in claims.items():
        if value is None:
            payload.pop(name, None)
        else:
            payload[name] = value
    return keys.sign(payload, header)


async def rejected(validator: TokenValidator, token: str) -> TokenRejected:
    with pytest.raises(TokenRejected) as info:
        await validator.validate(token)
    assert info.value.status == 401
    return info.value


# ---------------------------------------------------------------------------------------------- accepted


async def test_person_token_maps_to_a_person(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    principal = await validator_for(idp).validate(token_for("li.na"))
    assert principal.kind is PrincipalKind.person
    assert principal.username == "li.na"
    assert principal.department == "psb"
    assert principal.roles == frozenset({Role.provider})
    assert principal.client_id == "cpip-cli"


async def test_department_client_maps_to_a_service_account(idp: RunningIdp,
                                                           token_for: Callable[[str], str]) -> None:
    principal = await validator_for(idp).validate(token_for("dept-civil"))
    assert principal.kind is PrincipalKind.service_account
    assert principal.client_id == "dept-civil"
    assert principal.department == "civil"
    assert principal.roles == frozenset({Role.consumer})


async def test_unknown_realm_roles_are_ignored(idp: RunningIdp, idp_keys: IdpKeys,
                                               token_for: Callable[[str], str]) -> None:
    token = resigned(idp_keys, token_for("zhang.wei"),
                     realm_access={"roles": ["consumer", "offline_access", "uma_authorization"]})
    assert (await validator_for(idp).validate(token)).roles == frozenset({Role.consumer})


async def test_server_url_without_trailing_slash(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    validator = TokenValidator(server_url=idp.base_url.rstrip("/"), realm="cpip", audience="cpip-gateway")
    assert validator.issuer == f"{idp.base_url}realms/cpip"
    assert (await validator.validate(token_for("dept-psb"))).department == "psb"


async def test_gateway_own_client_is_accepted_by_azp(idp: RunningIdp, idp_keys: IdpKeys,
                                                     token_for: Callable[[str], str]) -> None:
    # Keycloak does not put the requesting client into aud; a token the gateway's client got for itself
    # names it in azp instead.
    token = resigned(idp_keys, token_for("dept-psb"), aud="account", azp="cpip-gateway")
    assert (await validator_for(idp).validate(token)).subject


async def test_leeway_comes_from_settings(idp: RunningIdp, idp_keys: IdpKeys,
                                          token_for: Callable[[str], str]) -> None:
    now = int(time.time())
    token = resigned(idp_keys, token_for("dept-psb"), exp=now - 10, iat=now - 310)
    assert (await validator_for(idp, oidc_leeway_seconds=30).validate(token)).department == "psb"
    assert (await rejected(validator_for(idp, oidc_leeway_seconds=0), token)).reason == "expired"


# ---------------------------------------------------------------------------------------------- rejected


async def test_alg_none(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    header, payload, _ = parts(token_for("li.na"))
    unsigned = f"{b64url_json({**header, 'alg': 'none'})}.{b64url_json(payload)}."
    assert (await rejected(validator_for(idp), unsigned)).reason == "alg-none"
    capitalised = f"{b64url_json({**header, 'alg': 'None'})}.{b64url_json(payload)}."
    assert (await rejected(validator_for(idp), capitalised)).reason == "alg-none"


async def test_hs256_signed_with_the_public_key(idp: RunningIdp, idp_keys: IdpKeys,
                                                token_for: Callable[[str], str]) -> None:
    header, payload, _ = parts(token_for("li.na"))
    payload["realm_access"] = {"roles": ["platform-admin"]}
    signing_input = f"{b64url_json({**header, 'alg': 'HS256'})}.{b64url_json(payload)}"
    # The classic confusion attack: the verifier's RSA public key (PEM, as served) used as the HMAC secret.
    signature = hmac.new(idp_keys.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url(signature)}"
    assert (await rejected(validator_for(idp), forged)).reason == "alg-not-allowed"


async def test_expired(idp: RunningIdp, idp_keys: IdpKeys, token_for: Callable[[str], str]) -> None:
    now = int(time.time())
    token = resigned(idp_keys, token_for("li.na"), exp=now - 3600, iat=now - 3900)
    error = await rejected(validator_for(idp), token)
    assert error.reason == "expired"
    assert "expired" in error.detail


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_not_yet_valid(claim: str, idp: RunningIdp, idp_keys: IdpKeys,
                             token_for: Callable[[str], str]) -> None:
    now = int(time.time())
    changes: dict[str, Any] = {claim: now + 3600, "exp": now + 7200}
    token = resigned(idp_keys, token_for("li.na"), **changes)
    assert (await rejected(validator_for(idp), token)).reason == "not-yet-valid"


async def test_wrong_issuer(idp: RunningIdp, idp_keys: IdpKeys, token_for: Callable[[str], str]) -> None:
    token = resigned(idp_keys, token_for("li.na"), iss="https://idp.example.org/realms/cpip")
    assert (await rejected(validator_for(idp), token)).reason == "wrong-issuer"


async def test_token_of_another_idp(idp: RunningIdp, start_other_idp: Callable[..., RunningIdp]) -> None:
    other = start_other_idp()
    token = str(fetch_token(other, "li.na")["access_token"])
    validator = validator_for(idp)
    assert (await rejected(validator, token)).reason == "wrong-issuer"
    assert validator.jwks_fetches == 0  # a foreign token never makes us fetch keys


async def test_another_realm(idp: RunningIdp, idp_keys: IdpKeys, start_other_idp: Callable[..., RunningIdp],
                             tmp_path: Path, token_for: Callable[[str], str]) -> None:
    # A realm "other" on the same server URL, signed with the very same key: only the issuer tells.
    token = resigned(idp_keys, token_for("li.na"), iss=f"{idp.base_url}realms/other")
    error = await rejected(validator_for(idp), token)
    assert error.reason == "wrong-realm"
    assert "other" in error.detail
    # And a real token of a real second realm, validated by a gateway configured for realm cpip on it.
    realm = json.loads(DEFAULT_REALM_FILE.read_text(encoding="utf-8"))
    realm["realm"] = "other"
    other_file = tmp_path / "other-realm.json"
    other_file.write_text(json.dumps(realm), encoding="utf-8")
    other = start_other_idp(other_file)
    other_token = str(fetch_token(other, "li.na")["access_token"])
    assert (await rejected(validator_for(other, oidc_realm="cpip"), other_token)).reason == "wrong-realm"


async def test_wrong_audience(idp: RunningIdp, idp_keys: IdpKeys, token_for: Callable[[str], str]) -> None:
    token = resigned(idp_keys, token_for("dept-psb"), aud=["account", "cpip-portal"])
    assert (await rejected(validator_for(idp), token)).reason == "wrong-audience"
    # A real token is rejected by a gateway that calls itself something else.
    assert (await rejected(validator_for(idp, oidc_audience="another-api"), token_for("dept-psb"))).reason \
        == "wrong-audience"


async def test_id_token_is_not_an_access_token(idp: RunningIdp) -> None:
    id_token = str(fetch_token(idp, "li.na")["id_token"])
    assert (await rejected(validator_for(idp), id_token)).reason == "wrong-audience"


async def test_refresh_typed_token_is_refused(idp: RunningIdp, idp_keys: IdpKeys,
                                              token_for: Callable[[str], str]) -> None:
    token = resigned(idp_keys, token_for("li.na"), typ="Refresh")
    assert (await rejected(validator_for(idp), token)).reason == "wrong-token-type"


async def test_tampered_payload(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    header, _payload, signature = token_for("zhang.wei").split(".")
    claims = parts(token_for("zhang.wei"))[1]
    claims["realm_access"] = {"roles": ["consumer", "provider"]}
    tampered = f"{header}.{b64url_json(claims)}.{signature}"
    assert (await rejected(validator_for(idp), tampered)).reason == "bad-signature"


async def test_tampered_signature(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    header, payload, signature = token_for("zhang.wei").split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert (await rejected(validator_for(idp), f"{header}.{payload}.{flipped}")).reason == "bad-signature"


async def test_signed_by_a_key_the_idp_does_not_have(idp: RunningIdp, idp_keys: IdpKeys,
                                                     token_for: Callable[[str], str]) -> None:
    attacker = JWK.generate(kty="RSA", size=2048)
    token = resigned(idp_keys, token_for("li.na"))
    _, payload, _ = parts(token)
    # Same kid as the IdP's key, different private key.
    forged = idp_keys.sign(payload, key=attacker)
    assert (await rejected(validator_for(idp), forged)).reason == "bad-signature"


async def test_unknown_kid_refetches_at_most_once_per_interval(idp: RunningIdp, idp_keys: IdpKeys,
                                                               token_for: Callable[[str], str]) -> None:
    clock = [1000.0]
    validator = TokenValidator(server_url=idp.base_url, realm="cpip", audience="cpip-gateway",
                               refetch_seconds=30, monotonic=lambda: clock[0])
    await validator.validate(token_for("li.na"))
    assert validator.jwks_fetches == 1
    unknown = [resigned(idp_keys, token_for("li.na"), header={"kid": f"rotated-{n}"}) for n in range(5)]
    clock[0] += 31
    for token in unknown:
        assert (await rejected(validator, token)).reason == "unknown-kid"
    assert validator.jwks_fetches == 2  # one refetch for the first unknown kid, none for the other four
    clock[0] += 31
    assert (await rejected(validator, unknown[0])).reason == "unknown-kid"
    assert validator.jwks_fetches == 3


async def test_missing_kid(idp: RunningIdp, idp_keys: IdpKeys, token_for: Callable[[str], str]) -> None:
    _, payload, _ = parts(token_for("li.na"))
    no_kid = idp_keys.sign(payload, header={"kid": ""})
    assert (await rejected(validator_for(idp), no_kid)).reason == "unknown-kid"


async def test_rotated_key_is_found_by_one_refetch(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    stale = JWKSet()
    stale.add(JWK.generate(kty="RSA", size=2048, kid="retired-key", use="sig"))
    validator = TokenValidator(server_url=idp.base_url, realm="cpip", audience="cpip-gateway", jwks=stale)
    assert (await validator.validate(token_for("dept-stats"))).department == "stats"
    assert validator.jwks_fetches == 1


async def test_jwks_is_fetched_once_not_per_token(idp: RunningIdp, token_for: Callable[[str], str]) -> None:
    validator = validator_for(idp)
    for name in ("li.na", "zhang.wei", "dept-psb", "dept-civil", "chen.dev") * 4:
        await validator.validate(token_for(name))
    assert validator.jwks_fetches == 1


@pytest.mark.parametrize("claim", ["sub", "exp"])
async def test_missing_required_claim(claim: str, idp: RunningIdp, idp_keys: IdpKeys,
                                      token_for: Callable[[str], str]) -> None:
    token = resigned(idp_keys, token_for("li.na"), **{claim: None})
    error = await rejected(validator_for(idp), token)
    assert error.reason == "missing-claim"
    assert claim in error.detail


async def test_oversized_and_garbage_tokens(idp: RunningIdp, idp_keys: IdpKeys,
                                            token_for: Callable[[str], str]) -> None:
    validator = validator_for(idp)
    huge = resigned(idp_keys, token_for("li.na"), padding="x" * 9000)
    assert (await rejected(validator, huge)).reason == "malformed"
    for garbage in ("", "abc", "a.b.c", "e30.e30.", "!!.??.--", "a.b.c.d.e"):
        assert (await rejected(validator, garbage)).reason in {"malformed", "alg-none", "bad-signature"}
    assert validator.jwks_fetches == 0


async def test_admin_and_security_officer_together_are_refused(idp: RunningIdp, idp_keys: IdpKeys,
                                                              token_for: Callable[[str], str]) -> None:
    token = resigned(idp_keys, token_for("admin"),
                     realm_access={"roles": ["platform-admin", "security-officer"]})
    with pytest.raises(SeparationOfDuties) as info:
        await validator_for(idp).validate(token)
    assert info.value.status == 403
    # Each role alone is fine.
    assert Role.platform_admin in (await validator_for(idp).validate(token_for("admin"))).roles
    assert Role.security_officer in (await validator_for(idp).validate(token_for("wang.fang"))).roles


async def test_unreachable_idp_is_503_not_401(token_for: Callable[[str], str]) -> None:
    validator = TokenValidator(server_url="http://127.0.0.1:9/", realm="cpip", audience="cpip-gateway")
    token = token_for("li.na")
    validator.issuer = parts(token)[1]["iss"]  # the issuer matches, only the keys cannot be fetched
    validator.server_url = validator.issuer.split("realms/")[0]
    with pytest.raises(IdentityProviderUnavailable) as info:
        await validator.validate(token)
    assert info.value.status == 503


async def test_a_remembered_token_still_expires(idp: RunningIdp, idp_keys: IdpKeys,
                                                token_for: Callable[[str], str]) -> None:
    # Verified tokens are remembered (one signature check per token, not per request) only until exp.
    validator = validator_for(idp, oidc_leeway_seconds=0)
    token = resigned(idp_keys, token_for("dept-psb"), exp=int(time.time()) + 2)
    assert (await validator.validate(token)).department == "psb"
    assert (await validator.validate(token)).department == "psb"
    await asyncio.sleep(3.1)
    assert (await rejected(validator, token)).reason == "expired"

"""The development IdP (idp/server.mjs) answers python-keycloak exactly as Keycloak would.

One IdP process per test module (per xdist worker), started from the realm file that production imports into
Keycloak. Every call below goes through python-keycloak's `KeycloakOpenID`, unchanged, except the browser
steps of the authorization-code flow, which httpx drives like a browser would.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jwcrypto import jwk, jws, jwt
from keycloak import KeycloakOpenID
from keycloak.exceptions import KeycloakAuthenticationError, KeycloakError, KeycloakPostError
from keycloak.pkce_utils import generate_code_challenge, generate_code_verifier

from tests.support.idp import DEFAULT_REALM_FILE, RunningIdp, start_idp

REALM = "cpip"
AUDIENCE = "cpip-gateway"
ROLES = {"provider", "consumer", "open-data-developer", "security-officer", "evaluator", "platform-admin"}
DEPARTMENTS: dict[str, tuple[str, set[str]]] = {
    "psb": ("市公安局", {"provider", "consumer"}),
    "samr": ("市市场监督管理局", {"provider", "consumer"}),
    "nrb": ("市自然资源和规划局", {"provider", "consumer"}),
    "hurd": ("市住房和城乡建设局", {"provider", "consumer"}),
    "stats": ("市统计局", {"provider", "consumer"}),
    "civil": ("市民政局", {"consumer"}),
}
PEOPLE: dict[str, tuple[set[str], str | None]] = {
    "li.na": ({"provider"}, "psb"),
    "zhang.wei": ({"consumer"}, "civil"),
    "wang.fang": ({"security-officer"}, None),
    "zhao.lei": ({"evaluator"}, None),
    "chen.dev": ({"open-data-developer"}, None),
    "admin": ({"platform-admin"}, None),
}
REDIRECT_URI = "http://127.0.0.1:50999/callback"


def password(username: str) -> str:
    return f"{username}-dev-pw"


@pytest.fixture(scope="module")
def idp() -> Iterator[RunningIdp]:
    """This module's own IdP (it shadows the session one): logout and the 1,100-token test stay local."""
    running = start_idp()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def realm_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_REALM_FILE.read_text(encoding="utf-8"))
    return data


def openid(idp: RunningIdp, client_id: str, secret: str | None = None) -> KeycloakOpenID:
    return KeycloakOpenID(server_url=idp.base_url, realm_name=idp.realm, client_id=client_id, client_secret_key=secret)


def dept(idp: RunningIdp, code: str) -> KeycloakOpenID:
    return openid(idp, f"dept-{code}", f"dept-{code}-dev-secret")


@pytest.fixture(scope="module")
def jwks(idp: RunningIdp) -> jwk.JWKSet:
    return jwk.JWKSet.from_json(json.dumps(openid(idp, "cpip-cli").certs()))


def verified(kc: KeycloakOpenID, idp: RunningIdp, token: str, keys: jwk.JWKSet) -> dict[str, Any]:
    """What the gateway does: RS256 signature with the cached JWKS, and iss/aud/exp checked."""
    claims: dict[str, Any] = kc.decode_token(
        token, validate=True, key=keys, check_claims={"iss": idp.issuer, "aud": AUDIENCE, "exp": None}
    )
    return claims


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


# ------------------------------------------------------------------------------ realm file


def test_realm_file_is_a_keycloak_export_with_the_cpip_roles_clients_and_people(
    realm_file: dict[str, Any],
) -> None:
    assert realm_file["realm"] == REALM
    assert realm_file["enabled"] is True
    assert realm_file["defaultSignatureAlgorithm"] == "RS256"
    assert {r["name"] for r in realm_file["roles"]["realm"]} == ROLES
    clients = {c["clientId"]: c for c in realm_file["clients"]}
    assert clients[AUDIENCE]["bearerOnly"] is True
    for code, (name, roles) in DEPARTMENTS.items():
        client = clients[f"dept-{code}"]
        assert client["name"] == name
        assert client["serviceAccountsEnabled"] is True
        assert client["publicClient"] is False
        assert client["secret"] == f"dept-{code}-dev-secret"
        hardcoded = [m for m in client["protocolMappers"] if m["protocolMapper"] == "oidc-hardcoded-claim-mapper"]
        claims = [(m["config"]["claim.name"], m["config"]["claim.value"]) for m in hardcoded]
        assert claims == [("department", code)]
        account = next(u for u in realm_file["users"] if u.get("serviceAccountClientId") == f"dept-{code}")
        assert account["username"] == f"service-account-dept-{code}"
        assert set(account["realmRoles"]) == roles
    assert clients["cpip-portal"]["publicClient"] is True
    assert clients["cpip-portal"]["attributes"]["pkce.code.challenge.method"] == "S256"
    assert clients["cpip-cli"]["directAccessGrantsEnabled"] is True
    for client in clients.values():
        if client.get("bearerOnly"):
            continue
        audience_mappers = [m for m in client["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper"]
        audience = [m["config"]["included.client.audience"] for m in audience_mappers]
        assert audience == [AUDIENCE], client["clientId"]
    people = {u["username"]: u for u in realm_file["users"] if "serviceAccountClientId" not in u}
    assert set(people) == set(PEOPLE)
    for username, (roles, department) in PEOPLE.items():
        user = people[username]
        assert user["enabled"] is True
        assert set(user["realmRoles"]) == roles
        assert user["credentials"] == [{"type": "password", "value": password(username), "temporary": False}]
        assert user.get("attributes", {}).get("department") == ([department] if department else None)


def test_no_account_is_both_platform_admin_and_security_officer(realm_file: dict[str, Any]) -> None:
    composites = {r["name"]: set(r.get("composites", {}).get("realm", [])) for r in realm_file["roles"]["realm"]}

    def effective(roles: set[str]) -> set[str]:
        out: set[str] = set()
        todo = list(roles)
        while todo:
            role = todo.pop()
            if role not in out:
                out.add(role)
                todo.extend(composites.get(role, set()))
        return out

    for user in realm_file["users"]:
        assert not {"platform-admin", "security-officer"} <= effective(set(user.get("realmRoles", []))), user


# ------------------------------------------------------------------------------ discovery, keys


def test_discovery_uses_keycloak_url_layout(idp: RunningIdp) -> None:
    config = openid(idp, "cpip-cli").well_known()
    endpoints = f"{idp.issuer}/protocol/openid-connect"
    assert config["issuer"] == f"{idp.base_url}realms/cpip"
    assert config["authorization_endpoint"] == f"{endpoints}/auth"
    assert config["token_endpoint"] == f"{endpoints}/token"
    assert config["jwks_uri"] == f"{endpoints}/certs"
    assert config["userinfo_endpoint"] == f"{endpoints}/userinfo"
    assert config["introspection_endpoint"] == f"{endpoints}/token/introspect"
    assert config["end_session_endpoint"] == f"{endpoints}/logout"
    assert {"authorization_code", "client_credentials", "password", "refresh_token"} <= set(
        config["grant_types_supported"]
    )
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in config["id_token_signing_alg_values_supported"]


def test_realm_document_carries_the_public_key_like_keycloak(idp: RunningIdp) -> None:
    document = httpx.get(f"{idp.base_url}realms/cpip").json()
    assert set(document) == {"realm", "public_key", "token-service", "account-service", "tokens-not-before"}
    assert document["realm"] == REALM
    assert document["token-service"] == f"{idp.issuer}/protocol/openid-connect"
    assert "BEGIN" not in document["public_key"]
    assert httpx.get(f"{idp.base_url}realms/elsewhere").status_code == 404


def test_certs_and_public_key_are_the_same_rs256_key(idp: RunningIdp) -> None:
    kc = openid(idp, "cpip-cli")
    keys = kc.certs()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    pem = f"-----BEGIN PUBLIC KEY-----\n{kc.public_key()}\n-----END PUBLIC KEY-----"
    from_realm = jwk.JWK.from_pem(pem.encode())
    assert (from_realm["n"], from_realm["e"]) == (keys[0]["n"], keys[0]["e"])


# ------------------------------------------------------------------------------ service accounts


@pytest.mark.parametrize("code", sorted(DEPARTMENTS))
def test_client_credentials_token_of_each_department(idp: RunningIdp, jwks: jwk.JWKSet, code: str) -> None:
    kc = dept(idp, code)
    response = kc.token(grant_type="client_credentials")
    assert response["token_type"] == "Bearer"
    assert response["expires_in"] == 300
    assert "refresh_token" not in response  # like Keycloak: no refresh token for client_credentials
    header = jws.JWS()
    header.deserialize(response["access_token"])
    assert header.jose_header["alg"] == "RS256"
    assert header.jose_header["kid"] in {k["kid"] for k in kc.certs()["keys"]}
    claims = verified(kc, idp, response["access_token"], jwks)
    assert AUDIENCE in audiences(claims)
    assert claims["azp"] == f"dept-{code}"
    assert claims["typ"] == "Bearer"
    assert claims["department"] == code
    assert claims["preferred_username"] == f"service-account-dept-{code}"
    assert set(claims["realm_access"]["roles"]) == DEPARTMENTS[code][1]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert claims["sub"]


def test_client_credentials_with_a_wrong_secret_is_refused(idp: RunningIdp) -> None:
    with pytest.raises(KeycloakAuthenticationError):
        openid(idp, "dept-psb", "not-the-secret").token(grant_type="client_credentials")
    with pytest.raises(KeycloakError):
        openid(idp, "cpip-cli").token(grant_type="client_credentials")


# ------------------------------------------------------------------------------ people


@pytest.mark.parametrize("username", sorted(PEOPLE))
def test_password_grant_for_each_person(idp: RunningIdp, jwks: jwk.JWKSet, username: str) -> None:
    kc = openid(idp, "cpip-cli")
    response = kc.token(username, password(username))
    assert response["token_type"] == "Bearer"
    assert response["refresh_token"]
    assert response["refresh_expires_in"] > 0
    claims = verified(kc, idp, response["access_token"], jwks)
    roles, department = PEOPLE[username]
    assert claims["preferred_username"] == username
    assert claims["azp"] == "cpip-cli"
    assert claims["typ"] == "Bearer"
    assert set(claims["realm_access"]["roles"]) == roles
    assert claims.get("department") == department
    assert claims["sid"] == response["session_state"]
    assert "openid" in claims["scope"].split()
    id_token = kc.decode_token(
        response["id_token"], validate=True, key=jwks, check_claims={"iss": idp.issuer, "aud": "cpip-cli"}
    )
    assert id_token["sub"] == claims["sub"]
    assert id_token["preferred_username"] == username


def test_password_grant_with_a_wrong_password_is_refused(idp: RunningIdp) -> None:
    kc = openid(idp, "cpip-cli")
    with pytest.raises(KeycloakAuthenticationError) as wrong:
        kc.token("li.na", "zhang.wei-dev-pw")
    assert json.loads(wrong.value.response_body or b"{}")["error"] == "invalid_grant"
    with pytest.raises(KeycloakAuthenticationError):
        kc.token("nobody", "nobody-dev-pw")


def test_password_grant_needs_direct_access_grants_on_the_client(idp: RunningIdp) -> None:
    with pytest.raises(KeycloakPostError):
        dept(idp, "psb").token("li.na", password("li.na"))


def test_decode_token_rejects_other_audiences_and_foreign_keys(idp: RunningIdp, jwks: jwk.JWKSet) -> None:
    kc = dept(idp, "psb")
    token = kc.token(grant_type="client_credentials")["access_token"]
    with pytest.raises(jwt.JWTInvalidClaimValue):
        kc.decode_token(token, validate=True, key=jwks, check_claims={"aud": "some-other-api", "exp": None})
    with pytest.raises(jwt.JWTInvalidClaimValue):
        kc.decode_token(token, validate=True, key=jwks, check_claims={"iss": "http://elsewhere/realms/cpip"})
    stranger = jwk.JWKSet()
    stranger.add(jwk.JWK.generate(kty="RSA", size=2048, kid=_kid(token)))  # same kid, different key
    with pytest.raises((jws.InvalidJWSSignature, jwt.JWTMissingKey)):
        kc.decode_token(token, validate=True, key=stranger)


def _kid(token: str) -> str:
    header: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


def test_decode_token_without_a_key_fetches_the_realm_public_key(idp: RunningIdp) -> None:
    kc = openid(idp, "cpip-cli")
    token = kc.token("zhao.lei", password("zhao.lei"))["access_token"]
    assert kc.decode_token(token, validate=True)["preferred_username"] == "zhao.lei"


# ------------------------------------------------------------------------------ introspection, userinfo


def test_introspection_of_jwt_access_tokens(idp: RunningIdp) -> None:
    psb = dept(idp, "psb")
    own = psb.token(grant_type="client_credentials")["access_token"]
    person = openid(idp, "cpip-cli").token("zhang.wei", password("zhang.wei"))["access_token"]
    answer = psb.introspect(own)
    assert answer["active"] is True
    assert answer["azp"] == answer["client_id"] == "dept-psb"
    assert answer["department"] == "psb"
    assert set(answer["realm_access"]["roles"]) == {"provider", "consumer"}
    assert AUDIENCE in audiences(answer)
    about_person = dept(idp, "civil").introspect(person)
    assert about_person["active"] is True
    assert about_person["username"] == about_person["preferred_username"] == "zhang.wei"
    assert about_person["department"] == "civil"
    assert psb.introspect("not-a-token") == {"active": False}
    tampered = own[:-4] + ("AAAA" if not own.endswith("AAAA") else "BBBB")
    assert psb.introspect(tampered) == {"active": False}
    with pytest.raises(KeycloakAuthenticationError):
        openid(idp, "dept-psb", "wrong").introspect(own)
    with pytest.raises(KeycloakAuthenticationError):
        openid(idp, "cpip-cli").introspect(own)  # public clients may not introspect
    basic = httpx.post(
        f"{idp.issuer}/protocol/openid-connect/token/introspect",
        data={"token": own},
        auth=("cpip-gateway", "cpip-gateway-dev-secret"),  # client_secret_basic, the resource server itself
    )
    assert basic.status_code == 200
    assert basic.json()["active"] is True


def test_userinfo_with_a_jwt_access_token(idp: RunningIdp) -> None:
    cli = openid(idp, "cpip-cli")
    info = cli.userinfo(cli.token("li.na", password("li.na"))["access_token"])
    assert info["preferred_username"] == "li.na"
    assert info["department"] == "psb"
    assert info["email"] == "li.na@cpip.example"
    psb = dept(idp, "psb")
    service = psb.userinfo(psb.token(grant_type="client_credentials")["access_token"])
    assert service["preferred_username"] == "service-account-dept-psb"
    assert service["department"] == "psb"
    with pytest.raises(KeycloakAuthenticationError):
        cli.userinfo("eyJhbGciOiJub25lIn0.e30.")


# ------------------------------------------------------------------------------ refresh and logout


def test_refresh_then_logout_revokes_the_session(idp: RunningIdp, jwks: jwk.JWKSet) -> None:
    cli = openid(idp, "cpip-cli")
    first = cli.token("wang.fang", password("wang.fang"))
    refreshed = cli.refresh_token(first["refresh_token"])
    before, after = (verified(cli, idp, t["access_token"], jwks) for t in (first, refreshed))
    assert after["sub"] == before["sub"]
    assert after["sid"] == before["sid"]
    assert after["jti"] != before["jti"]
    assert set(after["realm_access"]["roles"]) == {"security-officer"}
    assert refreshed["refresh_token"]
    assert refreshed["id_token"]
    gateway = dept(idp, "stats")
    assert gateway.introspect(refreshed["access_token"])["active"] is True

    logged_out: object = cli.logout(refreshed["refresh_token"])  # 204 No Content
    assert logged_out == {}

    with pytest.raises(KeycloakPostError) as refused:
        cli.refresh_token(first["refresh_token"])
    assert refused.value.response_code == 400
    assert gateway.introspect(first["access_token"]) == {"active": False}
    assert gateway.introspect(refreshed["access_token"]) == {"active": False}
    with pytest.raises(KeycloakAuthenticationError):
        cli.userinfo(refreshed["access_token"])
    other = cli.token("wang.fang", password("wang.fang"))  # another session of the same person is untouched
    assert gateway.introspect(other["access_token"])["active"] is True


def test_logout_needs_the_refresh_tokens_own_client(idp: RunningIdp) -> None:
    refresh = openid(idp, "cpip-cli").token("chen.dev", password("chen.dev"))["refresh_token"]
    with pytest.raises(KeycloakPostError):
        openid(idp, "cpip-portal").logout(refresh)
    with pytest.raises(KeycloakPostError):
        openid(idp, "cpip-cli").logout("no-such-refresh-token")
    assert openid(idp, "cpip-cli").refresh_token(refresh)["access_token"]


# ------------------------------------------------------------------------------ browser flow


def _browse_to_redirect(browser: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follow the IdP's own redirects; stop at the one that leaves it (to the client's redirect_uri)."""
    for _ in range(10):
        location = response.headers.get("location", "")
        if response.status_code not in (302, 303) or location.startswith(REDIRECT_URI):
            return response
        response = browser.get(response.url.join(location))
    raise AssertionError("redirect loop")


def _authorize(idp: RunningIdp, browser: httpx.Client, **extra: str) -> httpx.Response:
    query = {
        "client_id": "cpip-portal",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        **extra,
    }
    return browser.get(f"{idp.issuer}/protocol/openid-connect/auth", params=query)


def test_authorization_code_flow_with_pkce(idp: RunningIdp, jwks: jwk.JWKSet) -> None:
    portal = openid(idp, "cpip-portal")
    verifier = generate_code_verifier()
    challenge, method = generate_code_challenge(verifier)
    state = secrets.token_urlsafe(8)
    url = portal.auth_url(REDIRECT_URI, scope="openid", state=state, nonce="n-0S6", code_challenge=challenge)
    url += f"&code_challenge_method={method}"
    with httpx.Client() as browser:
        login_page = _browse_to_redirect(browser, browser.get(url))
        assert login_page.status_code == 200
        assert 'name="password"' in login_page.text
        wrong = browser.post(login_page.url, data={"username": "li.na", "password": "li.na-wrong"})
        assert wrong.status_code == 401
        assert "location" not in wrong.headers
        done = _browse_to_redirect(
            browser, browser.post(login_page.url, data={"username": "li.na", "password": password("li.na")})
        )
    callback = urllib.parse.urlsplit(done.headers["location"])
    params = dict(urllib.parse.parse_qsl(callback.query))
    assert params["state"] == state
    assert params["iss"] == idp.issuer
    with pytest.raises(KeycloakPostError):  # PKCE is enforced
        portal.token(
            grant_type="authorization_code",
            code=params["code"],
            redirect_uri=REDIRECT_URI,
            code_verifier=generate_code_verifier(),
        )
    with httpx.Client() as browser:  # the failed redemption burnt the code: log in again
        login_page = _browse_to_redirect(browser, browser.get(url))
        done = _browse_to_redirect(
            browser, browser.post(login_page.url, data={"username": "li.na", "password": password("li.na")})
        )
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(done.headers["location"]).query))["code"]
    tokens = portal.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI, code_verifier=verifier)
    claims = verified(portal, idp, tokens["access_token"], jwks)
    assert claims["azp"] == "cpip-portal"
    assert claims["preferred_username"] == "li.na"
    assert claims["department"] == "psb"
    assert set(claims["realm_access"]["roles"]) == {"provider"}
    assert claims["sid"]
    id_token = portal.decode_token(tokens["id_token"], validate=True, key=jwks, check_claims={"aud": "cpip-portal"})
    assert id_token["nonce"] == "n-0S6"
    assert portal.refresh_token(tokens["refresh_token"])["access_token"]


def test_authorization_requires_pkce_and_a_registered_redirect_uri(idp: RunningIdp) -> None:
    with httpx.Client() as browser:
        no_pkce = _authorize(idp, browser)
        assert no_pkce.status_code in (302, 303)
        error = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(no_pkce.headers["location"]).query))
        assert error["error"] == "invalid_request"
        assert "code" not in error
        challenge, _ = generate_code_challenge(generate_code_verifier())
        foreign = _authorize(
            idp,
            browser,
            redirect_uri="http://evil.example/callback",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        assert foreign.status_code == 400
        assert "location" not in foreign.headers
        tricky = _authorize(
            idp,
            browser,
            redirect_uri="http://127.0.0.1:80@evil.example/callback",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        assert tricky.status_code == 400


# ------------------------------------------------------------------------------ store size


def test_the_token_store_is_not_capped_at_1000_entries(idp: RunningIdp) -> None:
    kc = dept(idp, "samr")
    tokens = [kc.token(grant_type="client_credentials")["access_token"] for _ in range(1100)]
    assert len(set(tokens)) == 1100
    assert kc.introspect(tokens[0])["active"] is True
    assert kc.introspect(tokens[-1])["active"] is True

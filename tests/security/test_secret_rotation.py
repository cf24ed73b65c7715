"""Rotating CPIP_SECRET_KEY with a grace period: the former key, listed in CPIP_PREVIOUS_SECRET_KEYS, still
verifies what was made under it (here: open-data API keys), nothing new is made under it, and once it is no longer
listed what it alone vouched for is refused like any wrong credential."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from cpip.settings import DEV_SECRET_KEY, ConfigurationError, Environment, Settings
from tests.support.auth_app import build_app, client_for
from tests.support.auth_fixtures import bearer

KEY_A = "rotation-test-key-A-" + "a" * 32
KEY_B = "rotation-test-key-B-" + "b" * 32
KEYS = "/api/v1/open-data/keys"
POSTGRES = "postgresql+asyncpg://db/cpip"


# --- settings -----------------------------------------------------------------------------------------------


def test_previous_keys_come_from_the_environment_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPIP_SECRET_KEY", KEY_B)
    monkeypatch.setenv("CPIP_PREVIOUS_SECRET_KEYS", f'["{KEY_A}", "older-{KEY_A}"]')
    settings = Settings()
    assert [k.get_secret_value() for k in settings.previous_secret_keys] == [KEY_A, f"older-{KEY_A}"]
    # The current key first: it is the one anything new is made under.
    assert settings.verification_secret_keys == (KEY_B, KEY_A, f"older-{KEY_A}")
    assert KEY_A not in repr(settings)  # still secrets when settings are printed
    monkeypatch.delenv("CPIP_PREVIOUS_SECRET_KEYS")
    assert Settings().verification_secret_keys == (KEY_B,)


def _production(previous: list[str]) -> Settings:
    strong = "x" * 40
    return Settings(env=Environment.production, database_url=POSTGRES, secret_key=SecretStr(KEY_B),
                    audit_hmac_key=SecretStr(strong + "h"), audit_signing_key=SecretStr(strong + "s"),
                    previous_secret_keys=[SecretStr(k) for k in previous])


@pytest.mark.parametrize("weak", [DEV_SECRET_KEY, "short-previous-key"])
def test_production_refuses_a_development_or_short_previous_key(weak: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _production([KEY_A, weak]).check_safe_to_start()
    assert "CPIP_PREVIOUS_SECRET_KEYS[1]" in str(refused.value)
    assert weak not in str(refused.value)
    _production([KEY_A]).check_safe_to_start()


# --- open-data API keys -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def deployments(settings: Settings) -> AsyncIterator[dict[str, FastAPI]]:
    """The same database served before the rotation (A), during its grace period (B, A listed) and after (B)."""
    apps = {
        "A": build_app(settings.model_copy(update={"secret_key": SecretStr(KEY_A)})),
        "B+A": build_app(settings.model_copy(update={"secret_key": SecretStr(KEY_B),
                                                     "previous_secret_keys": [SecretStr(KEY_A)]})),
        "B": build_app(settings.model_copy(update={"secret_key": SecretStr(KEY_B)})),
    }
    yield apps
    for app in apps.values():
        await app.state.engine.dispose()


async def _mint(app: FastAPI, token: str) -> str:
    async with client_for(app) as api:
        response = await api.post(KEYS, json={"name": "rotation", "expires_in_days": 7}, headers=bearer(token))
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def _read_open_data(app: FastAPI, key: str) -> httpx.Response:
    async with client_for(app) as api:
        return await api.get("/test/open-data", headers={"X-API-Key": key})


@pytest.mark.usefixtures("settings")
async def test_a_key_minted_before_the_rotation_works_while_the_old_key_is_listed(
        deployments: dict[str, FastAPI], token_for: Callable[[str], str]) -> None:
    before = await _mint(deployments["A"], token_for("chen.dev"))
    assert (await _read_open_data(deployments["A"], before)).status_code == 200

    during = await _read_open_data(deployments["B+A"], before)
    assert during.status_code == 200, during.text
    assert during.json()["api_key_id"] == before.split("_")[1]

    after = await _read_open_data(deployments["B"], before)
    assert after.status_code == 401
    # Exactly what a wrong secret gets: nothing tells a caller that the key was once genuine.
    wrong = before[:-4] + ("AAAA" if not before.endswith("AAAA") else "BBBB")
    refused = await _read_open_data(deployments["B"], wrong)
    assert refused.status_code == 401
    assert after.json()["reason"] == refused.json()["reason"] == "unknown-key"
    assert after.json()["detail"] == refused.json()["detail"]
    assert after.headers["www-authenticate"] == refused.headers["www-authenticate"]


@pytest.mark.usefixtures("settings")
async def test_keys_minted_during_the_grace_period_are_hashed_under_the_new_key(
        deployments: dict[str, FastAPI], token_for: Callable[[str], str]) -> None:
    during = await _mint(deployments["B+A"], token_for("chen.dev"))
    assert (await _read_open_data(deployments["B"], during)).status_code == 200
    # The old key alone does not vouch for it: nothing new depends on the key being retired.
    assert (await _read_open_data(deployments["A"], during)).status_code == 401

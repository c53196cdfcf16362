"""docs/proxies.md: every webserver_config.py recipe is valid as printed, and names the preset it
documents; the oauth2-proxy recipe sends the ID token on and never a second Authorization header."""

from __future__ import annotations

import pytest

from airflow_platform_plugins.auth.presets import PRESETS
from airflow_platform_plugins.auth.settings import load_settings
from tests.harness.oauth2_proxy import parse_config
from tests.harness.recipes import PROXIES_MD, recipe, webserver_config

RECIPES = ["oauth2-proxy", "envoy-gateway", "aws-alb", "google-iap", "cloudflare-access", "pomerium"]


@pytest.mark.parametrize("name", RECIPES)
def test_each_webserver_config_recipe_loads_as_printed(name: str) -> None:
    values = webserver_config(name)
    assert values["AUTH_JWT_PRESET"] == name
    assert name in PRESETS
    load_settings(values)  # raises, naming the key, on any invalid value


def test_the_oauth2_proxy_recipe() -> None:
    config = parse_config(recipe("oauth2-proxy.cfg"))
    assert config["provider"] == "oidc"
    assert config["pass_authorization_header"] is True
    assert config["pass_basic_auth"] is False  # else a second Authorization header, which is refused
    assert config["client_id"] == webserver_config("oauth2-proxy")["AUTH_JWT_AUDIENCE"]


def test_the_istio_recipe_forwards_the_signed_token() -> None:
    text = PROXIES_MD.read_text()
    assert "forwardOriginalToken: true" in text
    assert "outputPayloadToHeader:" not in text  # named as refused, never configured

"""Claims -> identity and roles: config-driven, strict about bad values, FAB's role mapping semantics."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_platform_plugins.auth.errors import Forbidden, InvalidClaims
from airflow_platform_plugins.auth.identity import ClaimNames, Identity, RolePolicy, identity_from_claims

NAMES = ClaimNames(username=("preferred_username",))
MAPPING = {"airflow-admins": ("Admin",), "airflow-viewers": ("Viewer",), "ops": ("Op", "Viewer")}


def identity(**claims: Any) -> Identity:
    return identity_from_claims({"preferred_username": "alice", **claims}, NAMES)


def test_attributes_are_read_from_standard_claims() -> None:
    got = identity(email="a@example.org", given_name="Alice", family_name="Liddell", groups=["b", "a", "a"])
    assert got == Identity("alice", "a@example.org", "Alice", "Liddell", ("a", "b"))


def test_absent_claims_stay_unknown() -> None:
    assert identity() == Identity("alice", None, None, None, ())


def test_full_name_is_split_when_there_are_no_name_parts() -> None:
    assert (identity(name="Ada King Lovelace").first_name, identity(name="Ada King Lovelace").last_name) == (
        "Ada",
        "King Lovelace",
    )
    assert identity(name="Plato").last_name == ""
    assert identity(name="X Y", given_name="Only").first_name == "Only"


def test_nested_claims_and_dotted_names() -> None:
    names = ClaimNames(
        username=("https://example.org/user",),
        roles=("realm_access", "roles"),
        email=None,
    )
    claims = {"https://example.org/user": "bob", "realm_access": {"roles": ["ops"]}, "email": "ignored"}
    assert identity_from_claims(claims, names) == Identity("bob", None, None, None, ("ops",))


def test_roles_may_be_a_delimited_string() -> None:
    assert identity(groups="ops, airflow-viewers,,").role_keys == ("airflow-viewers", "ops")
    names = ClaimNames(username=("preferred_username",), roles_delimiter=" ")
    assert identity_from_claims({"preferred_username": "a", "groups": "x y"}, names).role_keys == ("x", "y")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"preferred_username": None}, "missing claim: preferred_username"),
        ({"preferred_username": 42}, "invalid claim: username is not a string"),
        ({"preferred_username": ""}, "invalid claim: username is empty or has surrounding spaces"),
        ({"preferred_username": " alice"}, "invalid claim: username is empty or has surrounding spaces"),
        ({"preferred_username": "ali\x07ce"}, "invalid claim: username contains control characters"),
        ({"preferred_username": "ali\nce"}, "invalid claim: username contains control characters"),
        ({"preferred_username": "alice\u202e"}, "invalid claim: username contains control characters"),
        ({"preferred_username": "ali\u200bce"}, "invalid claim: username contains control characters"),
        ({"preferred_username": "a" * 257}, "invalid claim: username is longer than 256 characters"),
        ({"email": "not-an-address"}, "invalid claim: email is not an email address"),
        ({"email": ["a@b"]}, "invalid claim: email is not a string"),
        ({"email": "a@b\x00"}, "invalid claim: email contains control characters"),
        ({"given_name": 3}, "invalid claim: first name is not a string"),
        ({"groups": {"Admin": True}}, "invalid claim: roles must be a string or a list of strings"),
        ({"groups": 42}, "invalid claim: roles must be a string or a list of strings"),
        ({"groups": ["ok", 1]}, "invalid claim: roles must be a string or a list of strings"),
        ({"groups": ["x"] * 1001}, "invalid claim: more than 1000 roles"),
    ],
)
def test_unusable_claims_are_refused(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidClaims) as info:
        identity_from_claims({"preferred_username": "alice", **claims}, NAMES)
    assert info.value.reason == reason
    assert info.value.status == 401


def test_long_names_are_truncated_not_refused() -> None:
    assert identity(given_name="n" * 1000).first_name == "n" * 256


def test_mapped_roles_are_granted() -> None:
    policy = RolePolicy(MAPPING)
    assert policy.roles_for(identity(groups=["ops", "unrelated"])) == {"Op", "Viewer"}


def test_a_claim_asking_for_admin_is_not_honoured_unless_mapped() -> None:
    policy = RolePolicy(MAPPING)
    with pytest.raises(Forbidden, match="no Airflow role"):
        policy.roles_for(identity(groups=["Admin"]))
    assert policy.roles_for(identity(groups=["Admin", "airflow-viewers"])) == {"Viewer"}


def test_registration_role_is_added_for_everyone() -> None:
    policy = RolePolicy(MAPPING, registration_role="Viewer")
    assert policy.roles_for(identity()) == {"Viewer"}
    assert policy.roles_for(identity(groups=["airflow-admins"])) == {"Admin", "Viewer"}


def test_sync_at_login_replaces_roles_otherwise_only_adds() -> None:
    current, granted = frozenset({"Admin", "Op"}), frozenset({"Viewer"})
    assert RolePolicy(MAPPING, replace=True).target_roles(current, granted) == {"Viewer"}
    assert RolePolicy(MAPPING, replace=False).target_roles(current, granted) == {"Admin", "Op", "Viewer"}

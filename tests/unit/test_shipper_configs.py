"""The Fluent Bit and Fluentd values in helm-values/ fit their charts, contain every configuration line
the shipping harness stands for, talk TLS with credentials from a Kubernetes secret, keep their read
position and buffers on the node, and agree with the Airflow values on index names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.helm import merge
from tests.harness.shipping import FLUENT_BIT, FLUENTD, INDEX_PREFIX, config_lines

ROOT = Path(__file__).parents[2]
CHARTS = ROOT / "tests" / "data" / "fluent-charts"
HELM_VALUES = ROOT / "helm-values"
AWS = "aws-opensearch"  # Amazon OpenSearch Service: SigV4 (AWS_Auth), no password
# (flavour, engine) -> values file
VALUES = {
    (FLUENT_BIT, "elasticsearch"): HELM_VALUES / "fluent-bit-airflow-logs.yaml",
    (FLUENT_BIT, "opensearch"): HELM_VALUES / "fluent-bit-airflow-opensearch-logs.yaml",
    (FLUENT_BIT, AWS): HELM_VALUES / "fluent-bit-airflow-aws-opensearch-logs.yaml",
    (FLUENTD, "elasticsearch"): HELM_VALUES / "fluentd-airflow-logs.yaml",
    (FLUENTD, "opensearch"): HELM_VALUES / "fluentd-airflow-opensearch-logs.yaml",
}
CASES = sorted(VALUES)
FREE_FORM = {("fileConfigs",), ("config", "extraFiles"), ("serviceAccount", "annotations")}  # free-form maps


def defaults(flavour: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CHARTS / flavour / "values.yaml").read_text()))


def values(case: tuple[str, str]) -> dict[str, Any]:
    return dict(yaml.safe_load(VALUES[case].read_text()))


def merged(case: tuple[str, str]) -> dict[str, Any]:
    return merge(defaults(case[0]), values(case))


def unknown_keys(chart: dict[str, Any], ours: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    out = []
    for key, value in ours.items():
        here = (*path, key)
        if here[:-1] in FREE_FORM:
            continue
        if key not in chart:
            out.append(".".join(here))
        elif isinstance(value, dict) and isinstance(chart[key], dict):
            out += unknown_keys(chart[key], value, here)
    return out


def config_text(case: tuple[str, str]) -> str:
    full = merged(case)
    parts = full["config"].values() if case[0] == FLUENT_BIT else full["fileConfigs"].values()
    return "\n".join(p for p in parts if isinstance(p, str))


def lines(text: str) -> list[str]:
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def case_id(case: tuple[str, str]) -> str:
    return "-".join(case)


def test_every_shipper_values_file_is_checked() -> None:
    shipped = {*HELM_VALUES.glob("fluent-bit-*.yaml"), *HELM_VALUES.glob("fluentd-*.yaml")}
    assert shipped == set(VALUES.values())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_values_only_use_keys_the_chart_has(case: tuple[str, str]) -> None:
    assert unknown_keys(defaults(case[0]), values(case)) == []


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_configs_contain_every_line_the_harness_stands_for(case: tuple[str, str]) -> None:
    flavour, engine = case
    configured = set(lines(config_text(case)))
    wanted = config_lines(flavour, "opensearch" if engine == AWS else engine)
    assert [line for line in wanted if line not in configured] == []


def fluent_bit_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for line in lines(text):
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
        elif sections:
            key, _, value = line.partition(" ")
            sections[-1][1][key] = value
    return sections


FLUENT_BIT_CASES = [case for case in CASES if case[0] == FLUENT_BIT]
FLUENTD_CASES = [case for case in CASES if case[0] == FLUENTD]
OUTPUT_PLUGIN = {"elasticsearch": "es", "opensearch": "opensearch", AWS: "opensearch"}


@pytest.mark.parametrize("case", FLUENT_BIT_CASES, ids=case_id)
def test_fluent_bit_tags_airflow_lines_after_merging_them_and_sends_them_to_the_daily_indices(
    case: tuple[str, str],
) -> None:
    sections = fluent_bit_sections(config_text(case))
    filters = [body for kind, body in sections if kind == "FILTER"]
    names = [body["Name"] for body in filters]
    assert names.index("kubernetes") < names.index("rewrite_tag"), "log_id exists only after Merge_Log"
    assert names.index("rewrite_tag") < names.index("grep"), "task log records leave kube.* before the drop"
    (airflow,) = [body for kind, body in sections if kind == "OUTPUT" and body.get("Match") == "airflow.*"]
    assert airflow["Name"] == OUTPUT_PLUGIN[case[1]]
    assert airflow["Logstash_Prefix"] == INDEX_PREFIX
    other_outputs = [body["Match"] for kind, body in sections if kind == "OUTPUT" and body is not airflow]
    assert "kube.*" in other_outputs, "the cluster's other container logs still go where they went"


@pytest.mark.parametrize("case", FLUENTD_CASES, ids=case_id)
def test_fluentd_parses_and_filters_airflow_lines_in_order(case: tuple[str, str]) -> None:
    text = config_text(case)
    label = re.search(r"<label @AIRFLOW>(.*?)\n</label>", text, re.S)
    assert label, "the @AIRFLOW label"
    steps = [
        'pattern /"log_id":/',
        "@type parser",
        "key log_id",
        f"@type {case[1]}_genid",
        f"@type {case[1]}",
    ]
    body = lines(label.group(1))
    positions = [body.index(step) for step in steps]
    assert positions == sorted(positions)
    kubernetes = re.search(r"<label @KUBERNETES>(.*?)\n</label>", text, re.S)
    assert kubernetes
    k8s = lines(kubernetes.group(1))
    assert k8s.index("@type kubernetes_metadata") < k8s.index("@label @AIRFLOW"), "metadata first"


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_the_airflow_values_read_the_indices_the_shippers_write(engine: str) -> None:
    airflow = yaml.safe_load((HELM_VALUES / f"airflow-{engine}-logs.yaml").read_text())
    section = airflow["config"][engine]
    assert section["index_patterns"] == f"{INDEX_PREFIX}-*"
    assert section["write_stdout"] == "True"
    assert airflow[engine]["enabled"] is True


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_the_airflow_values_reference_the_connection_through_a_secret(engine: str) -> None:
    airflow = yaml.safe_load((HELM_VALUES / f"airflow-{engine}-logs.yaml").read_text())
    assert airflow[engine]["secretName"]
    assert not airflow[engine].get("connection"), "no password inline"


def env_from_secrets(case: tuple[str, str]) -> set[str]:
    """The container's environment variables that come from a Kubernetes secret."""
    return {
        entry["name"]
        for entry in merged(case).get("env") or []
        if entry.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
        and entry["valueFrom"]["secretKeyRef"].get("key")
    }


ENV_REF = re.compile(r"^\$\{(\w+)\}$")


@pytest.mark.parametrize("case", FLUENT_BIT_CASES, ids=case_id)
def test_fluent_bit_outputs_use_tls_and_credentials_from_a_secret(case: tuple[str, str]) -> None:
    outputs = [body for kind, body in fluent_bit_sections(config_text(case)) if kind == "OUTPUT"]
    assert outputs
    secret_env = env_from_secrets(case)
    for body in outputs:
        assert body.get("tls") == "On", body
        assert body.get("tls.verify") == "On", body
        if case[1] == AWS:
            assert body.get("AWS_Auth") == "On", body
            assert body.get("AWS_Region"), body
            assert "HTTP_Passwd" not in body
        else:
            refs = [ENV_REF.match(body.get(key, "")) for key in ("HTTP_User", "HTTP_Passwd")]
            assert all(refs), f"user and password as ${{VAR}}: {body}"
            assert {m.group(1) for m in refs if m} <= secret_env, "each from a secretKeyRef"
    if case[1] == AWS:
        annotations = merged(case)["serviceAccount"]["annotations"]
        assert annotations.get("eks.amazonaws.com/role-arn"), "IRSA: the role the requests are signed with"


FLUENTD_ENV_REF = re.compile(r"^\"#\{ENV\['(\w+)'\]\}\"$")


@pytest.mark.parametrize("case", FLUENTD_CASES, ids=case_id)
def test_fluentd_outputs_use_tls_and_credentials_from_a_secret(case: tuple[str, str]) -> None:
    text = config_text(case)
    blocks = [
        lines(block)
        for block in re.findall(r"<match [^>]*>(.*?)</match>", text, re.S)
        if f"@type {case[1]}" in lines(block)
    ]
    assert len(blocks) == 2, "the task log output and the chart's default output"
    secret_env = env_from_secrets(case)
    for body in blocks:
        settings = dict(line.partition(" ")[::2] for line in body)
        assert settings.get("scheme") == "https", body
        assert settings.get("ssl_verify") == "true", body
        refs = [FLUENTD_ENV_REF.match(settings.get(key, "")) for key in ("user", "password")]
        assert all(refs), f'user and password as "#{{ENV[...]}}": {body}'
        assert {m.group(1) for m in refs if m} <= secret_env, "each from a secretKeyRef"


def writable_host_paths(case: tuple[str, str]) -> list[str]:
    """Mount paths of the Fluent Bit pod that are host paths it may write."""
    full = merged(case)
    host = {v["name"] for v in full["daemonSetVolumes"] if "hostPath" in v}
    return [
        m["mountPath"] for m in full["daemonSetVolumeMounts"] if m["name"] in host and not m.get("readOnly")
    ]


@pytest.mark.parametrize("case", FLUENT_BIT_CASES, ids=case_id)
def test_fluent_bit_keeps_its_read_position_and_chunks_on_the_node(case: tuple[str, str]) -> None:
    sections = fluent_bit_sections(config_text(case))
    (service,) = [body for kind, body in sections if kind == "SERVICE"]
    tails = [body for kind, body in sections if kind == "INPUT" and body["Name"] == "tail"]
    assert tails
    on_node = writable_host_paths(case)
    paths = [service["storage.path"], *(tail["DB"] for tail in tails)]
    for path in paths:
        assert any(path.startswith(mount.rstrip("/") + "/") for mount in on_node), (path, on_node)
    for tail in tails:
        assert tail["storage.type"] == "filesystem"
    (rewrite,) = [body for kind, body in sections if kind == "FILTER" and body["Name"] == "rewrite_tag"]
    assert rewrite["Emitter_Storage.type"] == "filesystem", "the re-tagged task log records too"


@pytest.mark.parametrize("case", FLUENTD_CASES, ids=case_id)
def test_fluentd_keeps_its_read_position_and_buffers_on_the_node(case: tuple[str, str]) -> None:
    full = merged(case)
    assert full["mountVarLogDirectory"] is True, "the chart mounts the node's /var/log"
    text = config_text(case)
    positions = re.findall(r"^\s*pos_file (\S+)$", text, re.M)
    buffers = re.findall(r"<buffer>(.*?)</buffer>", text, re.S)
    assert positions
    assert buffers
    assert all(path.startswith("/var/log/") for path in positions)
    for buffer in buffers:
        settings = dict(line.partition(" ")[::2] for line in lines(buffer))
        assert settings["@type"] == "file", buffer
        assert settings["path"].startswith("/var/log/"), buffer


@pytest.mark.parametrize("path", sorted(HELM_VALUES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_values_file_holds_a_password(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"^\s*pass(word)?:\s*\S", text, re.M | re.I)
    assert "change-me" not in text
    assert "changeme" not in text
    for line in lines(text):
        key, _, value = line.partition(" ")
        if key in ("HTTP_Passwd", "password"):
            assert ENV_REF.match(value) or FLUENTD_ENV_REF.match(value), line

"""The Helm chart under helm/cpip, rendered offline with Helm's own engine (helm-python-sdk).

Every example values file must lint cleanly in strict mode and render manifests that validate, in
strict mode, against the newest Kubernetes schemas kubernetes-validate ships; the values schema must
refuse wrong types, missing required settings and secrets written as plain values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

try:
    import helm_python as helm
    from kubernetes_validate import utils as kubernetes_validate
except ImportError as exc:  # only when the `helm` extra is not installed
    pytest.skip(
        f"the `helm` extra is not installed ({exc}); install it with: pip install -e '.[helm]'",
        allow_module_level=True,
    )

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "cpip"
VALUES_DIR = Path(__file__).resolve().parent / "values"
REALM_SOURCE = REPO / "security" / "realm" / "cpip-realm.json"
REALM_COPY = CHART / "files" / "cpip-realm.json"

# The newest Kubernetes minor kubernetes-validate 1.37 ships schemas for.
KUBE_VERSION = "1.37.0"
RELEASE = "cpip"
NAMESPACE = "cpip"
UID = 10001

VALUES_FILES: dict[str, Path] = {
    "production": CHART / "values-production.yaml",
    "minimal": VALUES_DIR / "minimal.yaml",
    "external-services": VALUES_DIR / "external-services.yaml",
    "gateway-only": VALUES_DIR / "gateway-only.yaml",
}
# Custom resources kubernetes-validate has no schema for.
CRD_KINDS = {"ServiceMonitor": "monitoring.coreos.com/v1"}
SECRET_ENV = {
    "CPIP_DATABASE_URL",
    "CPIP_SECRET_KEY",
    "CPIP_AUDIT_HMAC_KEY",
    "CPIP_AUDIT_SIGNING_KEY",
}
# Secret settings the chart sets only when asked to (a secret-key rotation in progress).
OPTIONAL_SECRET_ENV = {"CPIP_PREVIOUS_SECRET_KEYS"}
# Helm's own manifest separator (pkg/release/util.SplitManifests).
_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")

Manifest = dict[str, Any]


def load_values(name: str) -> dict[str, Any]:
    """Parse a values file with Helm's YAML reader, as `helm -f FILE` does."""
    return helm.values_from_yaml(VALUES_FILES[name].read_text(encoding="utf-8"))


def render(values: dict[str, Any] | None) -> list[Manifest]:
    """Render the chart as `helm install` would (schema validation included) and parse every object."""
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    manifests: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for document in _SEPARATOR.split(text):
            if not document.strip():
                continue
            obj = helm.values_from_yaml(document)
            if obj:  # a document of comments only parses to {}
                obj["__template__"] = path
                manifests.append(obj)
    return manifests


@cache
def render_file(name: str) -> tuple[Manifest, ...]:
    return tuple(render(load_values(name)))


def render_error(values: dict[str, Any] | None) -> str:
    with pytest.raises(helm.HelmError) as caught:
        render(values)
    return str(caught.value)


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: tuple[Manifest, ...], kind: str, component: str | None = None) -> Manifest:
    found = [
        m
        for m in of_kind(manifests, kind)
        if component is None or m["metadata"]["labels"].get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, got {len(found)}"
    return found[0]


def named(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, got {len(found)}"
    return found[0]


def pod_specs(manifests: tuple[Manifest, ...]) -> Iterator[tuple[str, dict[str, Any]]]:
    for m in manifests:
        if m["kind"] in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
            yield f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def without_private_keys(m: Manifest) -> Manifest:
    return {k: v for k, v in m.items() if not k.startswith("__")}


# --- lint and Kubernetes validation ------------------------------------------------------------


def test_kube_version_is_shipped_by_kubernetes_validate() -> None:
    assert KUBE_VERSION in kubernetes_validate.all_versions()


@pytest.mark.parametrize("name", sorted(VALUES_FILES))
def test_lint_is_clean_in_strict_mode(name: str) -> None:
    report = helm.lint(CHART, load_values(name), strict=True, kube_version=f"v{KUBE_VERSION}")
    # Severity 1 is informational ("icon is recommended"); warnings (2) and errors (3) fail strict lint.
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["total_charts_linted"] == 1
    assert not problems, problems
    assert not report["errors"], report["errors"]


@pytest.mark.parametrize("name", sorted(VALUES_FILES))
def test_every_manifest_validates_strictly(name: str) -> None:
    manifests = render_file(name)
    assert manifests
    failures: list[str] = []
    for m in manifests:
        label = f"{m['__template__']}: {m['kind']}/{m['metadata']['name']}"
        if m["kind"] in CRD_KINDS:
            assert m["apiVersion"] == CRD_KINDS[m["kind"]], label
            continue
        try:
            kubernetes_validate.validate(without_private_keys(m), KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            failures.append(f"{label}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            failures.append(f"{label}: {error.message}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(VALUES_FILES))
def test_names_are_unique_per_kind(name: str) -> None:
    keys = [(m["kind"], m["metadata"]["name"]) for m in render_file(name)]
    assert len(keys) == len(set(keys)), keys


# --- security posture on every container ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALUES_FILES))
def test_every_container_is_non_root_and_read_only(name: str) -> None:
    specs = list(pod_specs(render_file(name)))
    assert specs
    for label, spec in specs:
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, label
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, label
        assert spec["automountServiceAccountToken"] is False, label
        tmp = [v for v in spec["volumes"] if v["name"] == "tmp"]
        assert tmp, f"{label}: no tmp volume"
        assert "emptyDir" in tmp[0], f"{label}: /tmp must be an emptyDir"
        for c in containers(spec):
            where = f"{label} container {c['name']}"
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, where
            assert sc["runAsUser"] == UID, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in sc["capabilities"], where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], where
            assert c["resources"]["requests"], where
            assert c["resources"]["limits"], where


@pytest.mark.parametrize("name", sorted(VALUES_FILES))
def test_secrets_are_only_referenced(name: str) -> None:
    manifests = render_file(name)
    assert not of_kind(manifests, "Secret"), "the chart must not create Secrets"
    for cm in of_kind(manifests, "ConfigMap"):
        assert not (SECRET_ENV | OPTIONAL_SECRET_ENV) & set(cm.get("data", {})), cm["metadata"]["name"]
    for label, spec in pod_specs(manifests):
        for c in containers(spec):
            env = {e["name"]: e for e in c.get("env", [])}
            assert "CPIP_DATABASE_URL" in env, f"{label}: no database reference"
            for var in (SECRET_ENV | OPTIONAL_SECRET_ENV) & set(env):
                assert "value" not in env[var], f"{label}: {var} given as a plain value"
                assert env[var]["valueFrom"]["secretKeyRef"]["name"], f"{label}: {var}"


def test_previous_secret_keys_are_wired_only_when_named() -> None:
    for label, spec in pod_specs(render_file("production")):
        for c in containers(spec):
            assert "CPIP_PREVIOUS_SECRET_KEYS" not in {e["name"] for e in c.get("env", [])}, label
    # During a rotation every process must accept what the others made under the former key.
    wired = 0
    for label, spec in pod_specs(render_file("external-services")):
        for c in containers(spec):
            env = {e["name"]: e for e in c.get("env", [])}
            assert env["CPIP_PREVIOUS_SECRET_KEYS"]["valueFrom"]["secretKeyRef"] == {
                "name": "cpip-keys", "key": "PREVIOUS_SECRET_KEYS"}, label
            wired += 1
    assert wired >= 3  # gateway, worker and the migration hook


# --- what the production example deploys -------------------------------------------------------


def test_production_gateway_and_worker() -> None:
    manifests = render_file("production")
    gateway = one(manifests, "Deployment", "gateway")
    assert "replicas" not in gateway["spec"], "the HPA owns the gateway's replica count"
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["envFrom"] == [{"configMapRef": {"name": "cpip-config"}}]
    env = {e["name"]: e for e in container["env"]}
    assert set(env) >= SECRET_ENV | {"CPIP_REDIS_URL", "CPIP_ELASTICSEARCH_URL"}
    assert env["FORWARDED_ALLOW_IPS"]["value"] == "10.244.0.0/16"

    worker = one(manifests, "Deployment", "worker")
    assert worker["spec"]["replicas"] == 3
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]

    settings = named(manifests, "ConfigMap", "cpip-config")
    assert settings["data"]["CPIP_ENV"] == "production"
    assert settings["data"]["CPIP_SEARCH_BACKEND"] == "elasticsearch"
    assert settings["data"]["CPIP_OIDC_SERVER_URL"] == "https://id.example.gov.cn/"
    # Exports go on the shared claim that gateway and worker both mount.
    for deployment in (gateway, worker):
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["exports"] == {
            "name": "exports",
            "persistentVolumeClaim": {"claimName": "cpip-exports"},
        }
    pvc = one(manifests, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_production_hpa_pdb_ingress_and_monitoring() -> None:
    manifests = render_file("production")
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "cpip-gateway",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}

    pdb = one(manifests, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {
        "minAvailable": 2,
        "selector": {
            "matchLabels": one(manifests, "Deployment", "gateway")["spec"]["selector"]["matchLabels"]
        },
    }

    ingress = one(manifests, "Ingress")
    assert ingress["spec"]["tls"] == [{"secretName": "cpip-tls", "hosts": ["data.example.gov.cn"]}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "cpip", "port": {"name": "http"}}}

    monitor = one(manifests, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_production_network_policy() -> None:
    policy = one(render_file("production"), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "cpip", "app.kubernetes.io/instance": RELEASE}
    }
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert all(rule["ports"] == [{"port": "http", "protocol": "TCP"}] for rule in spec["ingress"])
    assert {} not in spec["egress"], "production egress must not be open"
    egress_ports = {p["port"] for rule in spec["egress"] for p in rule.get("ports", [])}
    assert {53, 5432, 6379, 9200, 443} <= egress_ports


def test_production_migration_hook() -> None:
    manifests = render_file("production")
    job = one(manifests, "Job", "migrations")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["args"] == ["db", "upgrade"]
    # The hook runs before the release's ConfigMap exists: its settings are inline.
    assert "envFrom" not in container
    env = {e["name"]: e for e in container["env"]}
    assert env["CPIP_ENV"]["value"] == "production"
    assert set(env) >= SECRET_ENV
    # Its service account is a hook too, created before the Job (lower weight).
    account = named(manifests, "ServiceAccount", pod["serviceAccountName"])
    assert account["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )


def test_optional_objects_follow_their_switches() -> None:
    minimal = {m["kind"] for m in render_file("minimal")}
    assert "HorizontalPodAutoscaler" not in minimal
    assert "Ingress" not in minimal
    assert "ServiceMonitor" not in minimal
    assert {"NetworkPolicy", "PodDisruptionBudget", "Job"} <= minimal
    gateway_only = render_file("gateway-only")
    kinds = {m["kind"] for m in gateway_only}
    assert not kinds & {"Job", "NetworkPolicy", "PodDisruptionBudget"}
    assert [d["metadata"]["name"] for d in of_kind(gateway_only, "Deployment")] == ["cpip-gateway"]
    assert "HorizontalPodAutoscaler" in kinds
    assert all(cm["metadata"]["name"] != "cpip-keycloak-realm" for cm in of_kind(gateway_only, "ConfigMap"))


def test_external_services_values() -> None:
    manifests = render_file("external-services")
    settings = named(manifests, "ConfigMap", "cpip-config")
    assert settings["data"]["CPIP_REDIS_URL"] == "redis://redis-master.cache.svc:6379/0"
    assert settings["data"]["CPIP_ELASTICSEARCH_URL"] == "https://es-http.search.svc:9200"
    assert settings["data"]["CPIP_EXPORT_DIR"] == "/srv/exports"
    gateway = one(manifests, "Deployment", "gateway")
    pod = gateway["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "cpip-runtime"
    assert pod["containers"][0]["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    assert {"name": "exports", "persistentVolumeClaim": {"claimName": "cpip-exports-nfs"}} in pod["volumes"]
    assert not of_kind(manifests, "PersistentVolumeClaim"), "an existing claim is used, not created"
    # With an existing service account the migration hook uses it too (no hook account).
    job = one(manifests, "Job", "migrations")
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "cpip-runtime"
    assert not of_kind(manifests, "ServiceAccount")
    realm = named(manifests, "ConfigMap", "cpip-keycloak-realm")
    assert realm["metadata"]["namespace"] == "identity"
    assert one(manifests, "NetworkPolicy")["spec"]["egress"] == [{}]


# --- the values schema refuses bad values -------------------------------------------------------


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value  # None removes the key, as `--set key=null` does
    return out


def production(**changes: Any) -> dict[str, Any]:
    """The production example with `changes` deep-merged into it."""
    return merged(load_values("production"), changes)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            production(gateway={"replicaCount": "three"}),
            ["/gateway/replicaCount", "got string, want integer"],
            id="wrong-type",
        ),
        pytest.param(
            production(worker={"concurrency": 0}),
            ["/worker/concurrency", "minimum"],
            id="out-of-range",
        ),
        pytest.param(production(env="prod"), ["/env", "value must be one of"], id="unknown-env"),
        pytest.param(
            production(appSecrets={"existingSecret": None}),
            ["/appSecrets", "existingSecret"],
            id="production-without-app-secrets",
        ),
        pytest.param(
            production(database={"existingSecret": ""}),
            ["/database/existingSecret", "minLength"],
            id="no-database-secret-reference",
        ),
        pytest.param(
            production(redis={"existingSecret": None}),
            ["/redis", "anyOf"],
            id="production-without-redis",
        ),
        pytest.param(
            production(keycloak={"serverUrl": "http://id.example.gov.cn/"}),
            ["/keycloak/serverUrl", "^https://"],
            id="production-keycloak-not-https",
        ),
        pytest.param(
            production(keycloak={"realmImport": {"stripDevelopmentCredentials": False}}),
            ["/keycloak/realmImport/stripDevelopmentCredentials", "value must be true"],
            id="production-imports-development-realm-secrets",
        ),
        pytest.param(
            production(search={"backend": "elasticsearch", "elasticsearch": {"existingSecret": None}}),
            ["/search/elasticsearch", "anyOf"],
            id="elasticsearch-without-url",
        ),
        pytest.param(
            production(gateway={"resources": {"limits": None}}),
            ["/gateway/resources", "missing property 'limits'"],
            id="no-resource-limits",
        ),
        pytest.param(
            production(securityContext={"runAsUser": 0}),
            ["/securityContext/runAsUser", "minimum"],
            id="root-user",
        ),
        pytest.param(
            production(database={"password": "s3cret"}),
            ["/database", "additional properties 'password' not allowed"],
            id="secret-database-password",
        ),
        pytest.param(
            production(database={"url": "postgresql+asyncpg://cpip:s3cret@pg:5432/cpip"}),
            ["/database", "additional properties 'url' not allowed"],
            id="secret-database-url",
        ),
        pytest.param(
            production(databaseUrl="postgresql+asyncpg://cpip:s3cret@pg:5432/cpip"),
            ["additional properties 'databaseUrl' not allowed"],
            id="secret-top-level-database-url",
        ),
        pytest.param(
            production(secretKey="0123456789abcdef0123456789abcdef"),
            ["additional properties 'secretKey' not allowed"],
            id="secret-key-in-values",
        ),
        pytest.param(
            production(appSecrets={"auditSigningKey": "MC4CAQAwBQYDK2VwBCIEIA=="}),
            ["/appSecrets", "additional properties 'auditSigningKey' not allowed"],
            id="signing-key-in-values",
        ),
        pytest.param(
            production(appSecrets={"previousSecretKeys": ["s3cret-0123456789abcdef0123456789abcdef"]}),
            ["/appSecrets", "additional properties 'previousSecretKeys' not allowed"],
            id="previous-secret-keys-in-values",
        ),
        pytest.param(
            production(redis={"url": "redis://:s3cret@redis:6379/0"}),
            ["/redis/url", "'not' failed"],
            id="password-in-redis-url",
        ),
        pytest.param(
            production(
                search={"elasticsearch": {"existingSecret": None, "url": "https://cpip:s3cret@es:9200"}}
            ),
            ["/search/elasticsearch/url", "'not' failed"],
            id="password-in-elasticsearch-url",
        ),
        pytest.param(
            production(extraEnv=[{"name": "CPIP_SECRET_KEY", "value": "0123456789abcdef0123456789abcdef"}]),
            ["/extraEnv/0", "valueFrom"],
            id="secret-in-extra-env",
        ),
    ],
)
def test_schema_rejects(values: dict[str, Any], expected: list[str]) -> None:
    message = render_error(values)
    assert "values don't meet the specifications of the schema" in message
    assert "s3cret" not in message, "the error must not echo a secret into logs"
    for fragment in expected:
        assert fragment in message, message
    # validate_schema is the same check without rendering.
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)


def test_schema_is_draft_07_and_closed() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    for section in ("database", "appSecrets", "redis", "keycloak", "gateway", "worker"):
        assert schema["properties"][section]["additionalProperties"] is False, section


def test_defaults_alone_name_what_is_missing() -> None:
    message = render_error(None)
    for fragment in (
        "/database/existingSecret",
        "/appSecrets/existingSecret",
        "/keycloak/serverUrl",
        "/redis",
    ):
        assert fragment in message, message


def test_hpa_bounds_are_checked() -> None:
    values = production(gateway={"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}})
    assert "minReplicas (5) must not exceed maxReplicas (2)" in render_error(values)


# --- the Keycloak realm ConfigMap --------------------------------------------------------------


def strip_development_credentials(
    realm: dict[str, Any], redirect: list[str], origins: list[str]
) -> dict[str, Any]:
    """What the chart's realm ConfigMap must hold in production, computed independently of the template."""
    out = dict(realm)
    out["users"] = [
        {k: v for k, v in user.items() if k != "credentials"}
        for user in realm.get("users", [])
        if user.get("serviceAccountClientId")
    ]
    clients = []
    for client in realm.get("clients", []):
        client = {k: v for k, v in client.items() if k not in {"secret", "registrationAccessToken"}}
        if "redirectUris" in client:
            client["redirectUris"] = redirect
        if "webOrigins" in client:
            client["webOrigins"] = origins
        clients.append(client)
    out["clients"] = clients
    return out


def test_production_realm_configmap_has_no_development_credentials() -> None:
    values = load_values("production")
    realm_values = values["keycloak"]["realmImport"]
    config_map = named(render_file("production"), "ConfigMap", "cpip-keycloak-realm")
    text = config_map["data"]["cpip-realm.json"]
    shipped = json.loads(REALM_COPY.read_text(encoding="utf-8"))
    assert json.loads(text) == strip_development_credentials(
        shipped, realm_values["redirectUris"], realm_values["webOrigins"]
    )
    assert '"credentials"' not in text
    assert '"secret"' not in text
    assert "localhost" not in text
    assert config_map["metadata"]["annotations"]["cpip.gov.cn/development-credentials-stripped"] == "true"


def test_realm_configmap_is_verbatim_when_not_stripped() -> None:
    values = merged(
        load_values("minimal"), {"keycloak": {"realmImport": {"stripDevelopmentCredentials": False}}}
    )
    config_map = named(tuple(render(values)), "ConfigMap", "cpip-keycloak-realm")
    assert config_map["data"]["cpip-realm.json"] == REALM_COPY.read_text(encoding="utf-8").strip()


def test_realm_copy_matches_security_realm() -> None:
    copy = REALM_COPY.read_bytes()
    if not REALM_SOURCE.exists():
        # Until security/realm/cpip-realm.json lands the chart ships a stub for the same realm.
        assert json.loads(copy)["realm"] == "cpip"
        return
    assert copy == REALM_SOURCE.read_bytes(), (
        "helm/cpip/files/cpip-realm.json is out of date: "
        "cp security/realm/cpip-realm.json helm/cpip/files/cpip-realm.json"
    )

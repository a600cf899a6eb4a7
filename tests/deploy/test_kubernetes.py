"""deploy/kubernetes: every manifest valid against the Kubernetes schemas (kubernetes-validate, offline, strict:
no unknown field), the ServiceMonitor pointing at the Service's port, the probes at the paths the server answers,
and the ConfigMap's config and schema making a gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.gateway import Gateway
from gateway.server.app import METRICS_PATH
from registry.config import load_config

ROOT = Path(__file__).parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
VERSION = "1.30.0"  # the oldest Kubernetes the manifests are meant for
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}  # no schema of Kubernetes' own: checked below


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> the manifest, from every file the kustomization lists."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    found: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            found[document["kind"]] = document
    return found


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(manifests()) == {
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceMonitor",
    }


@pytest.mark.parametrize("kind", sorted(k for k in manifests() if k != "ServiceMonitor"))
def test_valid_against_the_kubernetes_schemas(kind: str) -> None:
    manifest = manifests()[kind]
    assert (manifest["apiVersion"], kind) not in CRDS
    kubernetes_validate.validate(manifest, VERSION, strict=True)  # raises, naming the field, when invalid


def test_the_deployment_probes_drains_and_references_its_secret() -> None:
    found = manifests()
    pod = found["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert set(container["resources"]) == {"requests", "limits"}
    secrets = [e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e]
    assert secrets == ["funnel-secrets"]
    # the preStop pause and the drain fit in the grace period, with the requests' own time after them
    config = yaml.safe_load(found["ConfigMap"]["data"]["funnel.yaml"])
    pause_s = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    drain_s = (config["server"]["drain_ms"] + config["server"]["shutdown_timeout_ms"]) / 1000
    assert pause_s + drain_s < pod["terminationGracePeriodSeconds"]
    assert container["ports"] == [{"name": "http", "containerPort": config["server"]["port"]}]
    labels = found["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = found[kind]["spec"]["selector"]
        assert labels.items() >= selector.get("matchLabels", selector).items()
    assert (
        found["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == found["Deployment"]["metadata"]["name"]
    )


def test_the_service_monitor_scrapes_the_services_port_at_metrics() -> None:
    found = manifests()
    monitor = found["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= found["Service"]["metadata"]["labels"].items()
    )
    ports = {port["name"] for port in found["Service"]["spec"]["ports"]}
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", METRICS_PATH)]
    assert monitor["spec"]["endpoints"][0]["port"] in ports


def test_the_configmap_makes_a_gateway(tmp_path: Path) -> None:
    data = manifests()["ConfigMap"]["data"]
    assert data["gateway.graphql"] == (ROOT / "examples" / "gateway.graphql").read_text()
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    config = load_config(tmp_path / "funnel.yaml", environ={"REDIS_PASSWORD": "from-the-secret"})
    assert config.redis is not None and config.redis.url == "redis://:from-the-secret@redis:6379/0"
    assert config.services["catalog"].url == "http://catalog:4002/graphql"
    assert config.cache.redis and config.persisted_queries.redis  # the state replicas share
    Gateway.from_config(config).freeze()  # every annotation checked against the schema

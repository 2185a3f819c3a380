"""The SDK runs inside agents: importing it must not drag in the server.

Each module is imported in a fresh interpreter (this process has long since loaded
the store and the services through other tests), which then reports every module
it loaded. The SDK may load the domain, ``charter.errors``, ``charter.config``,
``charter.version`` and httpx; never SQLAlchemy, FastAPI/Starlette, Alembic, or
Charter's store, services, HTTP plumbing or interfaces. The token protocol code
under ``charter.domain.tokens`` is the SDK's too, so it is held to the same line.

An adapter is checked for what it adds to its framework: the framework is imported
first, and only the modules the adapter loads after it count (the OpenAI Agents SDK
itself loads Starlette, through MCP; an agent using it has that anyway). An adapter
whose framework is not installed cannot be checked: that skips with a warning (fails
under ``CI`` or ``CHARTER_REQUIRE_SDK_EXTRAS=1``), never passes.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import warnings

import pytest

import charter.domain.tokens

FORBIDDEN_PACKAGES = ("sqlalchemy", "fastapi", "starlette", "alembic")
FORBIDDEN_CHARTER = ("store", "services", "http", "api", "web", "cli")
#: all of Charter an agent-side import may load (the layering: sdk imports only domain)
SDK_MAY_LOAD = (
    "charter.sdk",
    "charter.domain",
    "charter.errors",
    "charter.config",
    "charter.version",
)

#: the optional framework each adapter needs (``pip install 'charter[...]'``)
ADAPTERS = {
    "charter.sdk.adapters.langchain": "langchain_core",
    "charter.sdk.adapters.openai_agents": "agents",
}
SDK_MODULES = ["charter.sdk", "charter.sdk.guard", "charter.sdk.credentials", *ADAPTERS]
DOMAIN_TOKEN_MODULES = sorted(
    info.name
    for info in pkgutil.iter_modules(charter.domain.tokens.__path__, "charter.domain.tokens.")
)

_PROBE = """
import importlib, json, sys
try:
    for name in sys.argv[2:]:
        importlib.import_module(name)
    before = set(sys.modules)
    importlib.import_module(sys.argv[1])
except ModuleNotFoundError as missing:
    print(json.dumps({"missing": missing.name}))
    raise SystemExit(0)
print(json.dumps({"modules": sorted(set(sys.modules) - before if sys.argv[2:] else sys.modules)}))
"""


def forbidden(modules: list[str]) -> list[str]:
    """The loaded modules an agent-side import must not load."""
    out = []
    for name in modules:
        parts = name.split(".")
        if parts[0] in FORBIDDEN_PACKAGES or (
            parts[0] == "charter" and len(parts) > 1 and parts[1] in FORBIDDEN_CHARTER
        ):
            out.append(name)
    return out


def outside_the_sdk_layer(modules: list[str]) -> list[str]:
    """Charter's modules an SDK import loads beyond the SDK itself and the domain."""
    return [
        name
        for name in modules
        if name.startswith("charter.")
        and not any(name == allowed or name.startswith(allowed + ".") for allowed in SDK_MAY_LOAD)
    ]


def loaded_by(module: str, *after: str) -> dict[str, object]:
    """What a fresh interpreter loads for ``import module`` (or which dependency is missing);
    with ``after``, only what it loads once those modules are imported."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, *after],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"importing {module} failed:\n{result.stderr}"
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _extras_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("CHARTER_REQUIRE_SDK_EXTRAS") == "1"


def _skip_missing(module: str, missing: str) -> None:
    framework = ADAPTERS.get(module)
    if framework is None or missing.split(".")[0] != framework:
        pytest.fail(f"importing {module} needs {missing!r}, which is not installed")
    message = (
        f"\n\n*** The store-freedom check of {module} is SKIPPED: {framework!r} is not installed.\n"
        "*** `make setup` installs the SDK extras (charter[langchain,openai-agents]).\n"
    )
    if _extras_required():
        pytest.fail(message)
    warnings.warn(message, stacklevel=1)
    pytest.skip(f"{framework} is not installed (see the warning above)")


@pytest.mark.parametrize("module", SDK_MODULES)
def test_sdk_loads_no_server_module(module: str) -> None:
    framework = ADAPTERS.get(module)
    report = loaded_by(module, framework) if framework else loaded_by(module)
    if "missing" in report:
        _skip_missing(module, str(report["missing"]))
    modules = report["modules"]
    assert isinstance(modules, list)
    assert module in modules
    assert forbidden(modules) == [], f"import {module} loads server-side modules"
    assert outside_the_sdk_layer(modules) == [], f"import {module} reaches past the domain"


@pytest.mark.parametrize("module", DOMAIN_TOKEN_MODULES)
def test_token_protocol_code_is_pure(module: str) -> None:
    report = loaded_by(module)
    assert "missing" not in report, report
    modules = report["modules"]
    assert isinstance(modules, list)
    assert forbidden(modules) == [], f"import {module} loads server-side modules"


def test_the_probe_sees_a_server_import() -> None:
    """The check itself works: a module that does load the store is caught."""
    report = loaded_by("charter.services.tokens.ledger")
    modules = report["modules"]
    assert isinstance(modules, list)
    found = forbidden(modules)
    assert "sqlalchemy" in found
    assert "charter.store.database" in found
    assert "charter.services.tokens.ledger" in found


def test_forbidden_names_only_server_modules() -> None:
    assert (
        forbidden(["charter", "charter.domain.decision", "charter.errors", "charter.sdk", "httpx"])
        == []
    )
    assert forbidden(["charter.storefront", "sqlalchemy_utils", "starlette.routing"]) == [
        "starlette.routing"
    ]
    assert (
        outside_the_sdk_layer(
            ["charter", "charter.sdk.guard", "charter.domain.tokens.jws", "charter.errors", "httpx"]
        )
        == []
    )
    assert outside_the_sdk_layer(["charter.gateway.remote", "charter.domainx", "charter.sdkx"]) == [
        "charter.gateway.remote",
        "charter.domainx",
        "charter.sdkx",
    ]


def test_an_adapter_is_charged_only_for_what_it_adds() -> None:
    """Starlette loaded by a framework is the framework's; loaded by the adapter, it counts."""
    report = loaded_by("starlette.routing", "json")
    modules = report["modules"]
    assert isinstance(modules, list)
    assert "starlette.routing" in forbidden(modules)
    assert "json" not in modules
    after_starlette = loaded_by("starlette.routing", "starlette.routing")
    assert after_starlette["modules"] == []

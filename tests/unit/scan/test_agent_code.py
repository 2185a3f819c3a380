"""Agent code: imports, manifests, credentials, and the candidate-agent rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.discovery.scan import ScanOptions, run_scan
from charter.discovery.scan.agent_code import (
    ManifestError,
    Project,
    dependencies,
    env_file_credentials,
)
from charter.discovery.scan.kinds import Ecosystem, PackageRole
from charter.discovery.scan.packages import Package, lookup

from .helpers import fake


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "requirements.txt",
            "langgraph>=0.2\n# c\n-r base.txt\nboto3[crt]==1.35\n",
            ["langgraph", "boto3"],
        ),
        (
            "pyproject.toml",
            '[project]\ndependencies = ["crewai>=0.80", "openai"]\n'
            '[project.optional-dependencies]\ndev = ["pytest"]\n'
            '[tool.poetry.dependencies]\npython = "^3.11"\nsmolagents = "*"\n',
            ["crewai", "openai", "pytest", "python", "smolagents"],
        ),
        (
            "Pipfile",
            '[packages]\npydantic-ai = "*"\n[dev-packages]\nruff = "*"\n',
            ["pydantic-ai", "ruff"],
        ),
        (
            "poetry.lock",
            '[[package]]\nname = "llama-index-core"\nversion = "0.12.0"\n',
            ["llama-index-core"],
        ),
        (
            "package.json",
            json.dumps(
                {
                    "dependencies": {"ai": "^4", "@ai-sdk/openai": "^1"},
                    "devDependencies": {"vitest": "^2"},
                }
            ),
            ["ai", "@ai-sdk/openai", "vitest"],
        ),
        (
            "package-lock.json",
            json.dumps(
                {
                    "packages": {
                        "": {},
                        "node_modules/@openai/agents": {},
                        "node_modules/a/node_modules/pg": {},
                    }
                }
            ),
            ["@openai/agents", "pg"],
        ),
        (
            "yarn.lock",
            '"@langchain/core@^0.3.0":\n  version "0.3.1"\nstripe@^17.0.0:\n  version "17"\n',
            ["@langchain/core", "stripe"],
        ),
        (
            "pnpm-lock.yaml",
            "packages:\n  /@modelcontextprotocol/sdk@1.0.0:\n    resolution: {}\n"
            "  mongodb@6.0.0:\n    resolution: {}\n",
            ["@modelcontextprotocol/sdk", "mongodb"],
        ),
    ],
)
def test_manifests_and_lock_files(name: str, text: str, expected: list[str]) -> None:
    assert dependencies(name, text) == expected


@pytest.mark.parametrize(("name", "text"), [("pyproject.toml", "[project"), ("package.json", "{")])
def test_malformed_manifest_raises(name: str, text: str) -> None:
    with pytest.raises(ManifestError):
        dependencies(name, text)


@pytest.mark.parametrize(
    ("name", "ecosystem", "label", "role"),
    [
        ("langchain_openai", Ecosystem.PYTHON, "LangChain", PackageRole.AGENT_FRAMEWORK),
        ("google.adk.agents", Ecosystem.PYTHON, "Google ADK", PackageRole.AGENT_FRAMEWORK),
        ("autogen_agentchat", Ecosystem.PYTHON, "AutoGen", PackageRole.AGENT_FRAMEWORK),
        ("semantic_kernel", Ecosystem.PYTHON, "Semantic Kernel", PackageRole.AGENT_FRAMEWORK),
        ("mcp.server.fastmcp", Ecosystem.PYTHON, "MCP Python SDK", PackageRole.MCP_SDK),
        ("google.cloud.storage", Ecosystem.PYTHON, "Google Cloud SDK", PackageRole.SYSTEM_SDK),
        (
            "@langchain/langgraph/prebuilt",
            Ecosystem.JAVASCRIPT,
            "LangGraph.js",
            PackageRole.AGENT_FRAMEWORK,
        ),
        ("@ai-sdk/anthropic", Ecosystem.JAVASCRIPT, "Vercel AI SDK", PackageRole.AGENT_FRAMEWORK),
        (
            "@modelcontextprotocol/sdk/server/mcp.js",
            Ecosystem.JAVASCRIPT,
            "MCP TypeScript SDK",
            PackageRole.MCP_SDK,
        ),
        ("@aws-sdk/client-s3", Ecosystem.JAVASCRIPT, "AWS SDK", PackageRole.SYSTEM_SDK),
    ],
)
def test_package_catalog(name: str, ecosystem: Ecosystem, label: str, role: PackageRole) -> None:
    package = lookup(name, ecosystem)
    assert package is not None and (package.label, package.role) == (label, role)


@pytest.mark.parametrize("name", ["os", "agents", "react", "googleapis-common"])
def test_unknown_packages(name: str) -> None:
    assert lookup(name, Ecosystem.PYTHON) is None and lookup(name, Ecosystem.JAVASCRIPT) is None


def test_env_files_name_credentials_with_real_values_only() -> None:
    text = (
        "OPENAI_API_KEY=abcd1234efgh5678\nGITHUB_TOKEN=\nSLACK_TOKEN=${SLACK}\n"
        "API_KEY=your-api-key-here\nexport DB_PASSWORD='Zx9-long-enough'\nLOG_LEVEL=debug\n"
    )
    assert env_file_credentials(text) == ["OPENAI_API_KEY", "DB_PASSWORD"]


def test_candidate_agent_rule() -> None:
    framework = Package("LangGraph", PackageRole.AGENT_FRAMEWORK)
    model = Package("OpenAI SDK", PackageRole.MODEL_SDK, "openai")
    project = Project(0, ".")
    project.add_package(model, "a.py:1")
    project.add_env("OPENAI_API_KEY", "a.py:2")
    assert project.ai_related and not project.runs_agent and not project.candidate_agent
    project.secret_systems.add("slack")  # a model SDK plus a non-AI system: it acts
    assert project.runs_agent and project.candidate_agent
    tools_only = Project(0, "x")
    tools_only.add_package(framework, "x.py:1")
    assert tools_only.runs_agent and not tools_only.candidate_agent  # holds nothing


def test_projects_from_a_tree(tmp_path: Path) -> None:
    _write(tmp_path / "bot/pyproject.toml", '[project]\ndependencies = ["crewai"]\n')
    _write(
        tmp_path / "bot/src/bot/main.py",
        "import os\nfrom crewai import Agent\nimport boto3\n"
        "key = os.getenv('SERPER_API_KEY')\nhome = os.environ['HOME']\n",
    )
    _write(tmp_path / "bot/.env", fake("openai-project-key").text + "\n")
    _write(tmp_path / "web/package.json", json.dumps({"dependencies": {"ai": "^4"}}))
    _write(
        tmp_path / "web/app/route.ts",
        "import { generateText } from 'ai';\nimport { openai } from \"@ai-sdk/openai\";\n"
        "const k = process.env.OPENAI_API_KEY;\n",
    )
    _write(tmp_path / "notes/readme.md", "import openai  # docs are not code\n")
    report = run_scan([str(tmp_path)], ScanOptions())
    projects = {p.path: p for p in report.projects}
    assert set(projects) == {"bot", "web"}
    bot, web = projects["bot"], projects["web"]
    assert bot.frameworks == {"CrewAI"} and bot.system_sdks == {"AWS SDK"}
    assert bot.credential_env == {"SERPER_API_KEY", "OPENAI_API_KEY"}
    assert len(bot.secrets) == 1 and "openai" in bot.secret_systems
    assert bot.candidate_agent
    assert bot.evidence == [
        "bot/.env: credential OPENAI_API_KEY",
        "bot/pyproject.toml: CrewAI (agent framework)",
        "bot/src/bot/main.py:3: AWS SDK (system SDK)",
        "bot/src/bot/main.py:4: credential SERPER_API_KEY",
    ]
    assert web.frameworks == {"Vercel AI SDK"} and web.credential_env == {"OPENAI_API_KEY"}
    assert web.candidate_agent and not web.secrets
    assert web.manifests == {"web/package.json"}

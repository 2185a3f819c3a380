"""Agent code: which projects run agents, and what they are given to act with.

Three kinds of evidence, gathered in the same pass as secrets:

* *imports* in Python and JavaScript/TypeScript sources (the prefilter finds
  ``import``/``from``/``require`` lines naming a known package);
* *dependency manifests and lock files*: requirements, pyproject, Pipfile,
  poetry/uv locks, package.json, npm/yarn/pnpm locks;
* *credentials*: secrets found in the project's files, credential-named
  variables its code reads (``os.environ[...]``, ``process.env...``) and its ``.env``
  files define.

A project is the nearest directory with a manifest (or the scan root). It is a
**candidate agent** when it runs an agent — an agent framework or an MCP SDK,
or a model SDK together with a system SDK or a non-AI credential — and holds
credentials.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field

from charter.discovery.scan import checks
from charter.discovery.scan.content import Signal
from charter.discovery.scan.kinds import Ecosystem, PackageRole
from charter.discovery.scan.packages import (
    Package,
    js_specifier_prefixes,
    lookup,
    python_import_names,
)
from charter.discovery.scan.systems import is_credential_name, systems_in

PY_SOURCES = frozenset({"py", "pyi", "ipynb"})
JS_SOURCES = frozenset({"js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "cts"})
PROJECT_MARKERS = frozenset(
    {
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "requirements.txt",
        "Pipfile",
        "package.json",
        "go.mod",
        "Cargo.toml",
        "pom.xml",
        "build.gradle",
        "Gemfile",
        "composer.json",
    }
)
AI_SYSTEMS = frozenset(
    {
        "openai",
        "anthropic",
        "google",
        "huggingface",
        "groq",
        "xai",
        "mistral",
        "cohere",
        "deepseek",
        "openrouter",
        "replicate",
        "perplexity",
        "pinecone",
        "langsmith",
        "langfuse",
        "wandb",
        "azure-openai",
        "databricks",
    }
)


def _alternation(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


#: ``from agents import …`` naming what only the OpenAI Agents SDK exports under that name.
_AGENTS_NAMES = (
    r"\b(?:Agent|Runner|function_tool|handoff|InputGuardrail"
    r"|OutputGuardrail|RunContextWrapper|ModelSettings|set_default_openai_key)\b"
)
_AGENTS_SYMBOLS = r"[\w \t,()\\\n]{0,200}" + _AGENTS_NAMES
OPENAI_AGENTS = Package("OpenAI Agents SDK", PackageRole.AGENT_FRAMEWORK)

SIGNALS: tuple[Signal, ...] = (
    Signal(
        id="py-import",
        # ``\w*``: import names extend the package names (langchain_openai, autogen_agentchat)
        probe=rf"(?:^|\n)[ \t]*\"?(?:from|import)[ \t]+(?:{_alternation(python_import_names())})"
        r"\w*\b",
        pattern=r"\n?[ \t]*\"?(?:from|import)[ \t]+(?P<value>[A-Za-z_][\w.]*)",
    ),
    Signal(  # ``agents`` is a common module name: only with the SDK's own symbols
        id="py-openai-agents",
        probe=rf"(?:^|\n)[ \t]*from[ \t]+agents[ \t]+import[ \t]+[\w \t,()\\\n]*{_AGENTS_NAMES}",
        pattern=rf"\n?[ \t]*from[ \t]+(?P<value>agents)[ \t]+import[ \t]+{_AGENTS_SYMBOLS}",
    ),
    Signal(
        id="js-import",
        probe=rf"(?:from|require\(|import\()[ \t]*[\"'](?:{_alternation(js_specifier_prefixes())})",
        pattern=r"(?:from|require\(|import\()[ \t]*[\"'](?P<value>[^\"'\s]+)[\"']",
    ),
    Signal(
        id="env-read",
        probe=r"os\.environ|getenv\(|process\.env|import\.meta\.env\.|Deno\.env\.get\(",
        pattern=r"(?:os\.environ(?:\.get\(|\.setdefault\(|\[)|(?:os\.)?getenv\(|"
        r"process\.env(?:\.|\[)|import\.meta\.env\.|Deno\.env\.get\()\s*[\"'`]?"
        r"(?P<value>[A-Za-z_][A-Za-z0-9_]*)",
        window_after=120,
    ),
)


class ManifestError(ValueError):
    """A manifest that cannot be parsed (malformed TOML or JSON)."""


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_YARN_ENTRY = re.compile(r'^"?(@?[^@\s",]+)@', re.MULTILINE)
_PNPM_ENTRY = re.compile(r"^\s{2}/?'?(@?[^@\s'/:]+(?:/[^@\s'/:]+)?)@", re.MULTILINE)
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", re.MULTILINE)


def manifest_kind(name: str, relative: str) -> Ecosystem | None:
    if name in {"pyproject.toml", "Pipfile", "poetry.lock", "uv.lock", "Pipfile.lock"}:
        return Ecosystem.PYTHON
    if name.startswith("requirements") and name.endswith((".txt", ".in")):
        return Ecosystem.PYTHON
    if "/requirements/" in f"/{relative}" and name.endswith(".txt"):
        return Ecosystem.PYTHON
    if name in {"package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"}:
        return Ecosystem.JAVASCRIPT
    return None


def is_env_file(name: str) -> bool:
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def _requirement_names(lines: list[str]) -> list[str]:
    names = []
    for line in lines:
        if line.strip().startswith(("#", "-", "git+", "http")):
            continue
        match = _REQUIREMENT.match(line)
        if match:
            names.append(match.group(1))
    return names


def dependencies(name: str, text: str) -> list[str]:
    """Package names a manifest or lock file declares; raises ``ManifestError``."""
    try:
        if name.endswith((".txt", ".in")):
            return _requirement_names(text.splitlines())
        if name in {"pyproject.toml", "Pipfile", "poetry.lock", "uv.lock"}:
            return _toml_dependencies(name, tomllib.loads(text))
        if name in {"package.json", "package-lock.json", "Pipfile.lock"}:
            return _json_dependencies(name, json.loads(text))
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(str(exc)) from exc
    if name == "yarn.lock":
        return _YARN_ENTRY.findall(text)
    if name == "pnpm-lock.yaml":
        return _PNPM_ENTRY.findall(text)
    return []


def _toml_dependencies(name: str, document: dict[str, object]) -> list[str]:
    names: list[str] = []
    if name in {"poetry.lock", "uv.lock"}:
        packages = document.get("package", [])
        return (
            [p["name"] for p in packages if isinstance(p, dict) and "name" in p]
            if isinstance(packages, list)
            else []
        )
    if name == "Pipfile":
        for table in ("packages", "dev-packages"):
            section = document.get(table)
            if isinstance(section, dict):
                names.extend(section)
        return names
    project = document.get("project")
    if isinstance(project, dict):
        names += _requirement_names(
            [d for d in project.get("dependencies", []) if isinstance(d, str)]
        )
        optional = project.get("optional-dependencies")
        if isinstance(optional, dict):
            for group in optional.values():
                if isinstance(group, list):
                    names += _requirement_names([d for d in group if isinstance(d, str)])
    groups = document.get("dependency-groups")
    if isinstance(groups, dict):
        for group in groups.values():
            if isinstance(group, list):
                names += _requirement_names([d for d in group if isinstance(d, str)])
    tool = document.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    if isinstance(poetry, dict):
        for key in ("dependencies", "dev-dependencies"):
            section = poetry.get(key)
            if isinstance(section, dict):
                names.extend(section)
    return names


def _json_dependencies(name: str, document: object) -> list[str]:
    if not isinstance(document, dict):
        raise ManifestError("the top level is not an object")
    names: list[str] = []
    if name == "package.json":
        for key in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
            section = document.get(key)
            if isinstance(section, dict):
                names.extend(section)
    elif name == "package-lock.json":
        packages = document.get("packages")
        if isinstance(packages, dict):
            names.extend(p.rsplit("node_modules/", 1)[-1] for p in packages if p)
        legacy = document.get("dependencies")
        if isinstance(legacy, dict):
            names.extend(legacy)
    else:  # Pipfile.lock
        for key in ("default", "develop"):
            section = document.get(key)
            if isinstance(section, dict):
                names.extend(section)
    return names


def env_file_credentials(text: str) -> list[str]:
    """Credential-named variables a ``.env`` file gives a literal value (names only)."""
    names = []
    for name, value in _ENV_LINE.findall(text):
        literal = value.strip("'\"")
        if not literal or literal.startswith("$") or not is_credential_name(name):
            continue
        if checks.looks_placeholder(literal.encode()) or len(literal) < 8:
            continue
        names.append(name)
    return names


@dataclass(slots=True)
class Project:
    """What one project imports, depends on, reads and holds."""

    root: int
    path: str  # directory relative to the scan root; "." for the root itself
    manifests: set[str] = field(default_factory=set)
    frameworks: set[str] = field(default_factory=set)
    mcp_sdks: set[str] = field(default_factory=set)
    model_sdks: set[str] = field(default_factory=set)
    system_sdks: set[str] = field(default_factory=set)
    systems: set[str] = field(default_factory=set)
    credential_env: set[str] = field(default_factory=set)  # read by code or set in .env
    secrets: set[str] = field(default_factory=set)  # fingerprints found in its files
    secret_systems: set[str] = field(default_factory=set)
    mcp_servers: set[str] = field(default_factory=set)
    #: what → the first place (in path order) it was seen: stable whatever order files come in
    _evidence: dict[str, str] = field(default_factory=dict)

    @property
    def evidence(self) -> list[str]:
        return sorted(f"{where}: {what}" for what, where in self._evidence.items())

    def _note(self, what: str, where: str) -> None:
        known = self._evidence.get(what)
        if known is None or _place_key(where) < _place_key(known):
            self._evidence[what] = where

    def add_package(self, package: Package, where: str) -> None:
        target = {
            PackageRole.AGENT_FRAMEWORK: self.frameworks,
            PackageRole.MCP_SDK: self.mcp_sdks,
            PackageRole.MODEL_SDK: self.model_sdks,
            PackageRole.SYSTEM_SDK: self.system_sdks,
        }[package.role]
        self._note(f"{package.label} ({package.role})", where)
        target.add(package.label)
        if package.system:
            self.systems.add(package.system)

    def add_env(self, name: str, where: str) -> None:
        if not is_credential_name(name):
            return
        self._note(f"credential {name}", where)
        self.credential_env.add(name)
        self.systems |= systems_in(name)

    @property
    def ai_related(self) -> bool:
        return bool(self.frameworks or self.mcp_sdks or self.model_sdks)

    @property
    def runs_agent(self) -> bool:
        if self.frameworks or self.mcp_sdks:
            return True
        reaches_systems = bool(self.system_sdks) or bool(self.secret_systems - AI_SYSTEMS)
        return bool(self.model_sdks) and reaches_systems

    @property
    def holds_credentials(self) -> bool:
        return bool(self.secrets or self.credential_env)

    @property
    def candidate_agent(self) -> bool:
        return self.runs_agent and self.holds_credentials


def _place_key(where: str) -> tuple[str, int]:
    path, _, line = where.rpartition(":")
    return (path, int(line)) if line.isdigit() else (where, 0)


def package_for_import(signal: str, value: str) -> Package | None:
    if signal == "py-openai-agents":
        return OPENAI_AGENTS
    ecosystem = Ecosystem.PYTHON if signal.startswith("py-") else Ecosystem.JAVASCRIPT
    return lookup(value, ecosystem)


def project_dir(relative_file: str, project_dirs: set[str]) -> str:
    """The nearest enclosing project directory of a file ("." for the root)."""
    parts = relative_file.split("/")[:-1]
    while parts:
        candidate = "/".join(parts)
        if candidate in project_dirs:
            return candidate
        parts.pop()
    return "."

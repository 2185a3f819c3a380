"""Frameworks recognised by the names code imports, not only by the names packages ship
under (``from langchain_openai import …`` is LangChain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.discovery.scan import ScanOptions, run_scan


def _frameworks(tmp_path: Path, source: str, name: str = "agent.py") -> set[str]:
    (tmp_path / name).write_text(source)
    projects = run_scan([str(tmp_path)], ScanOptions()).projects
    found: set[str] = set()
    for project in projects:
        found |= project.frameworks | project.model_sdks | project.mcp_sdks
    return found


@pytest.mark.parametrize(
    ("source", "label"),
    [
        ("from langchain_openai import ChatOpenAI\n", "LangChain"),
        ("from langchain_core.tools import tool\n", "LangChain"),
        ("from langchain_community.utilities import SQLDatabase\n", "LangChain"),
        ("import langchain\n", "LangChain"),
        ("from langgraph.prebuilt import create_react_agent\n", "LangGraph"),
        ("from llama_index.core.agent import ReActAgent\n", "LlamaIndex"),
        ("from llama_index.llms.openai import OpenAI\n", "LlamaIndex"),
        ("from crewai import Agent, Crew\n", "CrewAI"),
        ("from crewai_tools import SerperDevTool\n", "CrewAI"),
        ("import autogen\n", "AutoGen"),
        ("from autogen_agentchat.agents import AssistantAgent\n", "AutoGen"),
        ("from autogen_ext.models.openai import OpenAIChatCompletionClient\n", "AutoGen"),
        ("from agents import Agent, Runner\n", "OpenAI Agents SDK"),
        ("from agents import (\n    Agent,\n    function_tool,\n)\n", "OpenAI Agents SDK"),
        ("import anthropic\n", "Anthropic SDK"),
        ("from anthropic import Anthropic\n", "Anthropic SDK"),
        ("from semantic_kernel.agents import ChatCompletionAgent\n", "Semantic Kernel"),
        ("from haystack.components.agents import Agent\n", "Haystack"),
        ("from openai import OpenAI\n", "OpenAI SDK"),
        ("from mcp.server.fastmcp import FastMCP\n", "MCP Python SDK"),
        ("from pydantic_ai import Agent\n", "PydanticAI"),
        ("from smolagents import CodeAgent\n", "smolagents"),
        ("from google.adk.agents import Agent\n", "Google ADK"),
    ],
)
def test_import_names_recognise_frameworks(tmp_path: Path, source: str, label: str) -> None:
    assert label in _frameworks(tmp_path, source)


@pytest.mark.parametrize(
    "source",
    [
        "from agents import helpers\n",  # a project's own ``agents`` package
        "import agents\n",
        "from agents.models import MyAgent\n",
        "from agentsmith import Agent\n",
        "import openai_helpers_of_our_own\n",
        "import mcpx\n",
    ],
)
def test_look_alike_modules_are_not_frameworks(tmp_path: Path, source: str) -> None:
    assert _frameworks(tmp_path, source) == set()


def test_import_names_in_javascript_do_not_count_python_only_signals(tmp_path: Path) -> None:
    assert _frameworks(tmp_path, "// from agents import Agent\n", name="x.ts") == set()


@pytest.mark.parametrize("engine", ["hyperscan", "re2", "re"])
def test_every_prefilter_engine_finds_import_names(tmp_path: Path, engine: str) -> None:
    (tmp_path / "agent.py").write_text(
        "from langchain_openai import ChatOpenAI\nfrom agents import Agent, Runner\n"
    )
    report = run_scan([str(tmp_path)], ScanOptions(engine=engine))
    assert report.projects[0].frameworks == {"LangChain", "OpenAI Agents SDK"}

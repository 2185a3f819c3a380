"""The packages that say a project runs an agent, calls a model, or reaches a system.

Keys are import names (Python modules, JS specifiers) and distribution names
(PyPI, npm), normalised to lower case with ``-`` for ``_``. A key ending in
``*`` matches a family (``langchain-*``, ``@aws-sdk/*``).
"""

from __future__ import annotations

from dataclasses import dataclass

from charter.discovery.scan.kinds import Ecosystem, PackageRole

_A, _M, _P, _S = (
    PackageRole.AGENT_FRAMEWORK,
    PackageRole.MODEL_SDK,
    PackageRole.MCP_SDK,
    PackageRole.SYSTEM_SDK,
)


@dataclass(frozen=True, slots=True)
class Package:
    label: str
    role: PackageRole
    system: str | None = None


_PY: dict[str, Package] = {
    "langchain": Package("LangChain", _A),
    "langchain-*": Package("LangChain", _A),
    "langgraph": Package("LangGraph", _A),
    "langgraph-*": Package("LangGraph", _A),
    "crewai": Package("CrewAI", _A),
    "crewai-*": Package("CrewAI", _A),
    "autogen": Package("AutoGen", _A),
    "autogen-*": Package("AutoGen", _A),
    "pyautogen": Package("AutoGen", _A),
    "ag2": Package("AutoGen", _A),
    "openai-agents": Package("OpenAI Agents SDK", _A),
    "llama-index": Package("LlamaIndex", _A),
    "llama-index-*": Package("LlamaIndex", _A),
    "pydantic-ai": Package("PydanticAI", _A),
    "pydantic-ai-*": Package("PydanticAI", _A),
    "semantic-kernel": Package("Semantic Kernel", _A),
    "smolagents": Package("smolagents", _A),
    "google-adk": Package("Google ADK", _A),
    "google.adk": Package("Google ADK", _A),
    "haystack-ai": Package("Haystack", _A),
    "haystack": Package("Haystack", _A),
    "dspy": Package("DSPy", _A),
    "dspy-ai": Package("DSPy", _A),
    "agno": Package("Agno", _A),
    "mcp": Package("MCP Python SDK", _P),
    "fastmcp": Package("FastMCP", _P),
    "openai": Package("OpenAI SDK", _M, "openai"),
    "anthropic": Package("Anthropic SDK", _M, "anthropic"),
    "google-genai": Package("Google Gen AI SDK", _M, "google"),
    "google.genai": Package("Google Gen AI SDK", _M, "google"),
    "google-generativeai": Package("Gemini SDK (legacy)", _M, "google"),
    "google.generativeai": Package("Gemini SDK (legacy)", _M, "google"),
    "vertexai": Package("Vertex AI SDK", _M, "gcp"),
    "mistralai": Package("Mistral SDK", _M, "mistral"),
    "cohere": Package("Cohere SDK", _M, "cohere"),
    "groq": Package("Groq SDK", _M, "groq"),
    "huggingface-hub": Package("Hugging Face Hub", _M, "huggingface"),
    "together": Package("Together SDK", _M),
    "replicate": Package("Replicate", _M, "replicate"),
    "litellm": Package("LiteLLM", _M),
    "ollama": Package("Ollama", _M),
    "boto3": Package("AWS SDK", _S, "aws"),
    "botocore": Package("AWS SDK", _S, "aws"),
    "google-cloud-*": Package("Google Cloud SDK", _S, "gcp"),
    "google.cloud": Package("Google Cloud SDK", _S, "gcp"),
    "azure-*": Package("Azure SDK", _S, "azure"),
    "azure": Package("Azure SDK", _S, "azure"),
    "github": Package("PyGithub", _S, "github"),
    "pygithub": Package("PyGithub", _S, "github"),
    "gitlab": Package("python-gitlab", _S, "gitlab"),
    "python-gitlab": Package("python-gitlab", _S, "gitlab"),
    "slack-sdk": Package("Slack SDK", _S, "slack"),
    "slack-bolt": Package("Slack Bolt", _S, "slack"),
    "stripe": Package("Stripe", _S, "stripe"),
    "twilio": Package("Twilio", _S, "twilio"),
    "sendgrid": Package("SendGrid", _S, "sendgrid"),
    "psycopg": Package("psycopg", _S, "postgresql"),
    "psycopg2": Package("psycopg2", _S, "postgresql"),
    "psycopg2-binary": Package("psycopg2", _S, "postgresql"),
    "asyncpg": Package("asyncpg", _S, "postgresql"),
    "pymysql": Package("PyMySQL", _S, "mysql"),
    "mysql-connector-python": Package("MySQL Connector", _S, "mysql"),
    "mysql.connector": Package("MySQL Connector", _S, "mysql"),
    "pymongo": Package("PyMongo", _S, "mongodb"),
    "motor": Package("Motor", _S, "mongodb"),
    "notion-client": Package("Notion SDK", _S, "notion"),
    "jira": Package("jira", _S, "atlassian"),
    "atlassian-python-api": Package("Atlassian API", _S, "atlassian"),
    "atlassian": Package("Atlassian API", _S, "atlassian"),
    "simple-salesforce": Package("simple-salesforce", _S, "salesforce"),
    "pinecone": Package("Pinecone", _S, "pinecone"),
    "pinecone-client": Package("Pinecone", _S, "pinecone"),
}

_JS: dict[str, Package] = {
    "langchain": Package("LangChain.js", _A),
    "@langchain/*": Package("LangChain.js", _A),
    "@langchain/langgraph": Package("LangGraph.js", _A),
    "ai": Package("Vercel AI SDK", _A),
    "@ai-sdk/*": Package("Vercel AI SDK", _A),
    "@openai/agents": Package("OpenAI Agents SDK (JS)", _A),
    "@openai/agents-*": Package("OpenAI Agents SDK (JS)", _A),
    "llamaindex": Package("LlamaIndex.TS", _A),
    "@llamaindex/*": Package("LlamaIndex.TS", _A),
    "@mastra/*": Package("Mastra", _A),
    "@google/adk": Package("Google ADK (JS)", _A),
    "@modelcontextprotocol/sdk": Package("MCP TypeScript SDK", _P),
    "fastmcp": Package("FastMCP (TS)", _P),
    "openai": Package("OpenAI SDK", _M, "openai"),
    "@anthropic-ai/sdk": Package("Anthropic SDK", _M, "anthropic"),
    "@google/genai": Package("Google Gen AI SDK", _M, "google"),
    "@google/generative-ai": Package("Gemini SDK (legacy)", _M, "google"),
    "@mistralai/mistralai": Package("Mistral SDK", _M, "mistral"),
    "cohere-ai": Package("Cohere SDK", _M, "cohere"),
    "groq-sdk": Package("Groq SDK", _M, "groq"),
    "@huggingface/inference": Package("Hugging Face Inference", _M, "huggingface"),
    "replicate": Package("Replicate", _M, "replicate"),
    "@aws-sdk/*": Package("AWS SDK", _S, "aws"),
    "aws-sdk": Package("AWS SDK", _S, "aws"),
    "@google-cloud/*": Package("Google Cloud SDK", _S, "gcp"),
    "@azure/*": Package("Azure SDK", _S, "azure"),
    "octokit": Package("Octokit", _S, "github"),
    "@octokit/*": Package("Octokit", _S, "github"),
    "@gitbeaker/*": Package("GitBeaker", _S, "gitlab"),
    "@slack/*": Package("Slack SDK", _S, "slack"),
    "stripe": Package("Stripe", _S, "stripe"),
    "twilio": Package("Twilio", _S, "twilio"),
    "@sendgrid/*": Package("SendGrid", _S, "sendgrid"),
    "pg": Package("node-postgres", _S, "postgresql"),
    "postgres": Package("postgres.js", _S, "postgresql"),
    "mysql2": Package("mysql2", _S, "mysql"),
    "mysql": Package("mysql", _S, "mysql"),
    "mongodb": Package("MongoDB driver", _S, "mongodb"),
    "mongoose": Package("Mongoose", _S, "mongodb"),
    "@notionhq/client": Package("Notion SDK", _S, "notion"),
    "@linear/sdk": Package("Linear SDK", _S, "linear"),
    "jsforce": Package("JSforce", _S, "salesforce"),
    "jira-client": Package("jira-client", _S, "atlassian"),
    "@pinecone-database/pinecone": Package("Pinecone", _S, "pinecone"),
}

CATALOG = {Ecosystem.PYTHON: _PY, Ecosystem.JAVASCRIPT: _JS}


def normalise(name: str, ecosystem: Ecosystem) -> str:
    name = name.strip().lower()
    return name.replace("_", "-") if ecosystem is Ecosystem.PYTHON else name


def lookup(name: str, ecosystem: Ecosystem) -> Package | None:
    """The known package ``name`` belongs to: exact, dotted parent, or family."""
    catalog = CATALOG[ecosystem]
    key = normalise(name, ecosystem)
    if ecosystem is Ecosystem.PYTHON:
        parts = name.strip().lower().split(".")
        for n in range(len(parts), 0, -1):  # google.cloud.storage → google.cloud
            dotted = ".".join(parts[:n])
            if dotted in catalog:
                return catalog[dotted]
            if normalise(dotted, ecosystem) in catalog:
                return catalog[normalise(dotted, ecosystem)]
    elif key.startswith("@") and key.count("/") > 1:
        key = "/".join(key.split("/")[:2])
    elif not key.startswith("@"):
        key = key.split("/")[0]  # "pkg/sub/path" → "pkg"
    if key in catalog:
        return catalog[key]
    for pattern, package in catalog.items():
        if pattern.endswith("*") and key.startswith(pattern[:-1]):
            return package
    return None


def python_import_names() -> list[str]:
    """Top-level module names worth an import probe (the prefilter's alternation)."""
    names = set()
    for key in _PY:
        if key.endswith("*"):
            key = key[:-2] if key.endswith("-*") else key[:-1]
        names.add(key.replace("-", "_").split(".")[0])
    return sorted(names)


def js_specifier_prefixes() -> list[str]:
    names = set()
    for key in _JS:
        names.add(key.split("/")[0] if key.startswith("@") else key.rstrip("*"))
    return sorted(names)

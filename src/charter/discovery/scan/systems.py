"""Which system a name points at: ``GITHUB_TOKEN`` → github, ``@slack/web-api`` → slack.

The scanner sees names — environment variables an agent reads, packages it
imports, MCP server commands and URLs — and the estate wants Systems. One
small vocabulary, shared by the MCP and agent-code readers, so the same word
always lands on the same System id (the ids secret detectors use).
"""

from __future__ import annotations

import re

#: Name token → System id. Tokens are lower-case words split on non-alphanumerics.
SYSTEM_WORDS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "claude": "anthropic",
    "gemini": "google",
    "genai": "google",
    "vertexai": "gcp",
    "vertex": "gcp",
    "google": "google",
    "gcp": "gcp",
    "gcloud": "gcp",
    "bigquery": "gcp",
    "gcs": "gcp",
    "aws": "aws",
    "boto3": "aws",
    "s3": "aws",
    "bedrock": "aws",
    "dynamodb": "aws",
    "azure": "azure",
    "entra": "azure",
    "github": "github",
    "octokit": "github",
    "gh": "github",
    "gitlab": "gitlab",
    "slack": "slack",
    "stripe": "stripe",
    "twilio": "twilio",
    "sendgrid": "sendgrid",
    "notion": "notion",
    "linear": "linear",
    "jira": "atlassian",
    "confluence": "atlassian",
    "atlassian": "atlassian",
    "salesforce": "salesforce",
    "jsforce": "salesforce",
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "psycopg": "postgresql",
    "psycopg2": "postgresql",
    "pg": "postgresql",
    "asyncpg": "postgresql",
    "mysql": "mysql",
    "mysql2": "mysql",
    "pymysql": "mysql",
    "mongodb": "mongodb",
    "mongo": "mongodb",
    "pymongo": "mongodb",
    "mongoose": "mongodb",
    "pinecone": "pinecone",
    "huggingface": "huggingface",
    "hf": "huggingface",
    "databricks": "databricks",
    "langsmith": "langsmith",
    "langfuse": "langfuse",
    "wandb": "wandb",
    "groq": "groq",
    "mistral": "mistral",
    "mistralai": "mistral",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "replicate": "replicate",
    "perplexity": "perplexity",
    "pplx": "perplexity",
    "xai": "xai",
    "grok": "xai",
    "sentry": "sentry",
    "datadog": "datadog",
    "snowflake": "snowflake",
    "supabase": "supabase",
    "cloudflare": "cloudflare",
    "discord": "discord",
    "telegram": "telegram",
    "gmail": "google",
    "gdrive": "google",
    "npm": "npm",
    "pypi": "pypi",
    "filesystem": "filesystem",
    "puppeteer": "browser",
    "playwright": "browser",
    "redis": "redis",
    "elasticsearch": "elasticsearch",
    "kubernetes": "kubernetes",
    "kubectl": "kubernetes",
    "docker": "docker",
    "sqlite": "sqlite",
    "zendesk": "zendesk",
    "hubspot": "hubspot",
    "shopify": "shopify",
    "figma": "figma",
    "asana": "asana",
}
#: Words that name a system only as part of a longer name (``DATABASE_URL``).
_PHRASES: dict[str, str] = {"database_url": "database", "db_url": "database"}
_SPLIT = re.compile(r"[^a-z0-9]+")
_CREDENTIAL_WORDS = frozenset(
    {
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "pass",
        "pat",
        "credential",
        "credentials",
        "auth",
        "apikey",
        "dsn",
        "webhook",
        "bearer",
        "sid",
    }
)


def words(name: str) -> list[str]:
    lowered = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return [w for w in _SPLIT.split(lowered) if w]


def systems_in(name: str) -> set[str]:
    """Systems a name mentions; empty when it names none we know."""
    lowered = name.lower()
    found = {system for phrase, system in _PHRASES.items() if phrase in lowered}
    found.update(SYSTEM_WORDS[w] for w in words(name) if w in SYSTEM_WORDS)
    return found


def is_credential_name(name: str) -> bool:
    """``OPENAI_API_KEY``, ``githubToken``, ``DATABASE_URL``: a variable that carries a secret."""
    parts = set(words(name))
    if parts & _CREDENTIAL_WORDS:
        return True
    lowered = name.lower()
    return "apikey" in lowered or "database_url" in lowered or lowered.endswith("_dsn")

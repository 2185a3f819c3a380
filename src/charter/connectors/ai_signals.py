"""What marks an identity as AI-related, shared by every connector.

Evidence, not proof: each rule returns a short human-readable reason that is
kept with the identity (``Identity.evidence``), so a person can judge it.
Names alone are the weakest signal; a trust policy naming
``bedrock.amazonaws.com`` or a role like ``roles/aiplatform.user`` is strong.
The bare word "agent" is deliberately not a signal (``datadog-agent`` is not AI).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Cloud service principals that run models or agents.
AI_SERVICE_PRINCIPALS = frozenset(
    {
        "bedrock.amazonaws.com",
        "bedrock-agentcore.amazonaws.com",
        "sagemaker.amazonaws.com",
        "q.amazonaws.com",
        "qbusiness.amazonaws.com",
    }
)
#: AWS service prefixes (IAM action namespace / credential report service names).
AI_AWS_SERVICES = frozenset(
    {"bedrock", "bedrock-agentcore", "sagemaker", "q", "qbusiness", "qdeveloper", "kendra"}
)
#: GCP role prefixes whose holders use models.
AI_GCP_ROLE_PREFIXES = (
    "roles/aiplatform.",
    "roles/ml.",
    "roles/dialogflow.",
    "roles/discoveryengine.",
    "roles/notebooks.",
)

_VENDORS = (
    "openai",
    "chatgpt",
    "gpt",
    "anthropic",
    "claude",
    "llm",
    "copilot",
    "gemini",
    "vertex",
    "bedrock",
    "sagemaker",
    "mistral",
    "cohere",
    "perplexity",
    "langchain",
    "llama",
    "ollama",
    "huggingface",
    "otter",
    "fireflies",
    "coderabbit",
    "codeium",
    "devin",
    "greptile",
    "tabnine",
    "glean",
    "notion-ai",
    "ai-agent",
    "genai",
    "vllm",
    "rag",
)
_NAME = re.compile(
    r"(?:^|[^a-z0-9])(" + "|".join(re.escape(v) for v in _VENDORS) + r")(?:$|[^a-z])"
    r"|(?:^|[-_ .])ai(?:$|[-_ .])",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
#: Words that look AI-ish but name other things.
_NOT_AI = re.compile(r"(?i)\b(?:gpt-?partition|writer-?db|cursor-?pagination)\b")


def name_signal(*names: str | None) -> str | None:
    """A reason if a name or description mentions an AI vendor or product."""
    for name in names:
        if not name or _NOT_AI.search(name):
            continue
        match = _NAME.search(_CAMEL.sub(r"\1-\2", name))
        if match:
            word = (match.group(1) or "ai").lower()
            return f"name {name!r} mentions {word!r}"
    return None


def tag_signal(tags: dict[str, str]) -> str | None:
    """A reason if tags or labels mark an AI workload (``ai-workload=true``, ``ai=…``)."""
    for key, value in tags.items():
        lowered = key.lower()
        marks_ai = lowered in ("ai", "ai-workload", "ai_workload", "genai", "llm", "charter.dev/ai")
        if marks_ai and str(value).lower() not in ("false", "no", "0", ""):
            return f"tag {key}={value}"
        if lowered in ("workload", "workload-type", "purpose") and name_signal(str(value)):
            return f"tag {key}={value}"
    return None


def aws_service_signal(principals: Iterable[str]) -> str | None:
    for principal in principals:
        if principal in AI_SERVICE_PRINCIPALS:
            return f"trusted by {principal}"
    return None

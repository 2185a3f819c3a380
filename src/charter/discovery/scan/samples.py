"""Format-valid fake credentials, one generator per detector.

Tests, the benchmark corpus and the bundled demo need keys that every detector
recognises but that authenticate nowhere. Bodies are random characters from the
provider's documented alphabet (with the documented checksum where there is
one), so they are indistinguishable in shape from real keys and worthless.
Nothing here is a real secret.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from charter.discovery.scan.checks import base62_encode

_B62 = string.ascii_letters + string.digits
_URLSAFE = _B62 + "_-"
_HEX = "0123456789abcdef"
_B32 = string.ascii_uppercase + "234567"
_B64 = _B62 + "+/"


@dataclass(frozen=True, slots=True)
class Sample:
    """A fake credential and the smallest realistic text that carries it."""

    detector: str
    token: str  # the credential as it appears in a file
    secret: str  # what the finding fingerprints (SHA-256): usually the token
    env: str  # the variable name code conventionally reads it from
    text: str  # one assignment (or a whole snippet) that the detector must find
    needs_keyword: bool = False  # the token alone is not recognisable (no prefix)
    multiline: bool = False  # ``text`` is a whole snippet, to plant as it is


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _checksummed(rng: random.Random, prefix: str) -> str:
    random_part = _r(rng, _B62, 30)
    return prefix + random_part + base62_encode(zlib.crc32(random_part.encode()))


def _uuid(rng: random.Random) -> str:
    h = _r(rng, _HEX, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _simple(
    detector: str, env: str, make: Callable[[random.Random], str]
) -> Callable[[random.Random], Sample]:
    def build(rng: random.Random) -> Sample:
        token = make(rng)
        return Sample(detector, token, token, env, f'{env}="{token}"')

    return build


def _keyword(
    detector: str, env: str, make: Callable[[random.Random], str]
) -> Callable[[random.Random], Sample]:
    def build(rng: random.Random) -> Sample:
        token = make(rng)
        return Sample(detector, token, token, env, f"{env}={token}", needs_keyword=True)

    return build


def _aws(rng: random.Random) -> Sample:
    key_id = "AKIA" + _r(rng, _B32, 16)
    secret = _r(rng, _B64, 38) + rng.choice("0123456789") + rng.choice("/+")
    text = f"aws_access_key_id = {key_id}\naws_secret_access_key = {secret}"
    return Sample("aws-access-key", key_id, key_id, "AWS_ACCESS_KEY_ID", text, multiline=True)


def _pem_lines(rng: random.Random, length: int) -> tuple[str, str]:
    body = _r(rng, _B64, length - 2) + "=="
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return body, "\n".join(lines)


def _gcp(rng: random.Random) -> Sample:
    key_id = _r(rng, _HEX, 40)
    _, lines = _pem_lines(rng, 1624)
    project = "demo-" + _r(rng, string.ascii_lowercase, 6)
    document = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{lines}\n-----END PRIVATE KEY-----\n",
        "client_email": f"agent-runner@{project}.iam.gserviceaccount.com",
        "client_id": "".join(rng.choice(string.digits) for _ in range(21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    text = json.dumps(document, indent=2)
    return Sample(
        "gcp-service-account-key",
        key_id,
        key_id,
        "GOOGLE_APPLICATION_CREDENTIALS",
        text,
        multiline=True,
    )


def _private_key(rng: random.Random) -> Sample:
    body, lines = _pem_lines(rng, 1624)
    text = f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----"
    return Sample("private-key", body, body, "TLS_KEY", text, multiline=True)


def _b64url(value: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _jwt(rng: random.Random) -> Sample:
    header = _b64url({"alg": "HS256", "typ": "JWT"})
    payload = _b64url(
        {"sub": "svc-" + _r(rng, _HEX, 8), "iss": "https://auth.internal.test", "exp": 4102444800}
    )
    token = f"{header}.{payload}.{_r(rng, _URLSAFE, 43)}"
    return Sample("jwt", token, token, "SERVICE_JWT", f'SERVICE_JWT="{token}"')


def _database(detector: str, scheme: str, port: int) -> Callable[[random.Random], Sample]:
    def build(rng: random.Random) -> Sample:
        user = "svc_" + _r(rng, string.ascii_lowercase, 6)
        password = _r(rng, _B62, 20)
        host = f"db-{_r(rng, string.ascii_lowercase, 5)}.internal:{port}"
        url = f"{scheme}://{user}:{password}@{host}/app"
        return Sample(
            detector, url, f"{user}:{password}@{host}", "DATABASE_URL", f'DATABASE_URL="{url}"'
        )

    return build


def _slack_webhook(rng: random.Random) -> str:
    return (
        "https://hooks.slack.com/services/T"
        + _r(rng, string.ascii_uppercase + string.digits, 10)
        + "/B"
        + _r(rng, string.ascii_uppercase + string.digits, 10)
        + "/"
        + _r(rng, _B62, 24)
    )


def _slack_workflow(rng: random.Random) -> str:
    upper = string.ascii_uppercase + string.digits
    return (
        f"https://hooks.slack.com/workflows/T{_r(rng, upper, 10)}/A{_r(rng, upper, 10)}"
        f"/{_digits(rng, 18)}/{_r(rng, _B62, 24)}"
    )


def _slack_config(rng: random.Random) -> str:
    """Configuration tokens are base64 (unpadded) of dash-joined ids and a hex digest."""
    if rng.random() < 0.5:  # refresh: xoxe-1- + 146
        parts = f"3-1-{_digits(rng, 12)}-{_digits(rng, 13)}-{_digits(rng, 13)}-{_r(rng, _HEX, 64)}"
        prefix = "xoxe-1-"
    else:  # access: xoxe.xoxp-1- + 164
        ids = "-".join(_digits(rng, n) for n in (12, 13, 13, 13))
        parts = f"2-2-{ids}-{_r(rng, _HEX, 64)}"
        prefix = rng.choice(("xoxe.xoxp-1-", "xoxe.xoxb-1-"))
    return prefix + base64.b64encode(parts.encode()).decode().rstrip("=")


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))


GENERATORS: dict[str, Callable[[random.Random], Sample]] = {
    "openai-project-key": _simple(
        "openai-project-key",
        "OPENAI_API_KEY",
        lambda r: "sk-proj-" + _r(r, _URLSAFE, 74) + "T3BlbkFJ" + _r(r, _URLSAFE, 74),
    ),
    "openai-service-account-key": _simple(
        "openai-service-account-key",
        "OPENAI_API_KEY",
        lambda r: "sk-svcacct-" + _r(r, _URLSAFE, 74) + "T3BlbkFJ" + _r(r, _URLSAFE, 74),
    ),
    "openai-admin-key": _simple(
        "openai-admin-key",
        "OPENAI_ADMIN_KEY",
        lambda r: "sk-admin-" + _r(r, _URLSAFE, 58) + "T3BlbkFJ" + _r(r, _URLSAFE, 58),
    ),
    "openai-legacy-key": _simple(
        "openai-legacy-key",
        "OPENAI_API_KEY",
        lambda r: "sk-" + _r(r, _B62, 20) + "T3BlbkFJ" + _r(r, _B62, 20),
    ),
    "anthropic-api-key": _simple(
        "anthropic-api-key",
        "ANTHROPIC_API_KEY",
        lambda r: "sk-ant-api03-" + _r(r, _URLSAFE, 93) + "AA",
    ),
    "anthropic-admin-key": _simple(
        "anthropic-admin-key",
        "ANTHROPIC_ADMIN_KEY",
        lambda r: "sk-ant-admin01-" + _r(r, _URLSAFE, 93) + "AA",
    ),
    "google-api-key": _simple(
        "google-api-key", "GEMINI_API_KEY", lambda r: "AIza" + _r(r, _URLSAFE, 35)
    ),
    "huggingface-token": _simple(
        "huggingface-token", "HF_TOKEN", lambda r: "hf_" + _r(r, string.ascii_letters, 34)
    ),
    "huggingface-org-token": _simple(
        "huggingface-org-token",
        "HUGGINGFACEHUB_API_TOKEN",
        lambda r: "api_org_" + _r(r, string.ascii_letters, 34),
    ),
    "groq-api-key": _simple("groq-api-key", "GROQ_API_KEY", lambda r: "gsk_" + _r(r, _B62, 52)),
    "xai-api-key": _simple("xai-api-key", "XAI_API_KEY", lambda r: "xai-" + _r(r, _B62, 80)),
    "mistral-api-key": _keyword("mistral-api-key", "MISTRAL_API_KEY", lambda r: _r(r, _B62, 32)),
    "cohere-api-key": _keyword("cohere-api-key", "COHERE_API_KEY", lambda r: _r(r, _B62, 40)),
    "deepseek-api-key": _keyword(
        "deepseek-api-key", "DEEPSEEK_API_KEY", lambda r: "sk-" + _r(r, _HEX, 32)
    ),
    "openrouter-api-key": _simple(
        "openrouter-api-key", "OPENROUTER_API_KEY", lambda r: "sk-or-v1-" + _r(r, _HEX, 64)
    ),
    "replicate-api-token": _simple(
        "replicate-api-token", "REPLICATE_API_TOKEN", lambda r: "r8_" + _r(r, _B62, 37)
    ),
    "perplexity-api-key": _simple(
        "perplexity-api-key", "PERPLEXITY_API_KEY", lambda r: "pplx-" + _r(r, _B62, 48)
    ),
    "pinecone-api-key": _simple(
        "pinecone-api-key",
        "PINECONE_API_KEY",
        lambda r: "pcsk_" + _r(r, _B62, 6) + "_" + _r(r, _B62, 63),
    ),
    "pinecone-legacy-api-key": _keyword("pinecone-legacy-api-key", "PINECONE_API_KEY", _uuid),
    "langsmith-api-key": _simple(
        "langsmith-api-key",
        "LANGSMITH_API_KEY",
        lambda r: "lsv2_pt_" + _r(r, _HEX, 32) + "_" + _r(r, _HEX, 10),
    ),
    "langfuse-secret-key": _simple(
        "langfuse-secret-key", "LANGFUSE_SECRET_KEY", lambda r: "sk-lf-" + _uuid(r)
    ),
    "wandb-api-key": _keyword("wandb-api-key", "WANDB_API_KEY", lambda r: _r(r, _HEX, 40)),
    "wandb-api-key-v1": _simple(
        "wandb-api-key-v1",
        "WANDB_API_KEY",
        lambda r: "wandb_v1_" + _r(r, _B62, 27) + "_" + _r(r, _B62, 49),
    ),
    "azure-openai-key": _keyword(
        "azure-openai-key", "AZURE_OPENAI_API_KEY", lambda r: _r(r, _HEX, 32)
    ),
    "databricks-token": _simple(
        "databricks-token", "DATABRICKS_TOKEN", lambda r: "dapi" + _r(r, _HEX, 32)
    ),
    "aws-access-key": _aws,
    "gcp-service-account-key": _gcp,
    "azure-client-secret": _simple(
        "azure-client-secret",
        "AZURE_CLIENT_SECRET",
        lambda r: _r(r, _B62, 3) + r.choice(string.digits) + "Q~" + _r(r, _B62 + "_~.-", 34),
    ),
    "azure-storage-account-key": lambda r: (
        lambda key: Sample(
            "azure-storage-account-key",
            key,
            key,
            "AZURE_STORAGE_CONNECTION_STRING",
            "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;"
            f"AccountName=agentdata;AccountKey={key};EndpointSuffix=core.windows.net",
            multiline=True,
        )
    )(_r(r, _B64, 86) + "=="),
    "google-oauth-client-secret": _simple(
        "google-oauth-client-secret",
        "GOOGLE_CLIENT_SECRET",
        lambda r: "GOCSPX-" + _r(r, _URLSAFE, 28),
    ),
    "github-pat": _simple("github-pat", "GITHUB_TOKEN", lambda r: _checksummed(r, "ghp_")),
    "github-oauth-token": _simple(
        "github-oauth-token", "GITHUB_TOKEN", lambda r: _checksummed(r, "gho_")
    ),
    "github-user-token": _simple(
        "github-user-token", "GITHUB_TOKEN", lambda r: _checksummed(r, "ghu_")
    ),
    "github-app-token": _simple(
        "github-app-token", "GITHUB_TOKEN", lambda r: _checksummed(r, "ghs_")
    ),
    "github-refresh-token": _simple(
        "github-refresh-token", "GITHUB_REFRESH_TOKEN", lambda r: _checksummed(r, "ghr_")
    ),
    "github-fine-grained-pat": _simple(
        "github-fine-grained-pat",
        "GITHUB_PERSONAL_ACCESS_TOKEN",
        lambda r: "github_pat_" + _r(r, _B62, 22) + "_" + _r(r, _B62, 59),
    ),
    "gitlab-pat": _simple("gitlab-pat", "GITLAB_TOKEN", lambda r: "glpat-" + _r(r, _URLSAFE, 20)),
    "gitlab-pipeline-trigger-token": _simple(
        "gitlab-pipeline-trigger-token", "GITLAB_TRIGGER", lambda r: "glptt-" + _r(r, _HEX, 40)
    ),
    "gitlab-runner-token": _simple(
        "gitlab-runner-token", "RUNNER_TOKEN", lambda r: "glrt-" + _r(r, _URLSAFE, 20)
    ),
    "gitlab-deploy-token": _simple(
        "gitlab-deploy-token", "GITLAB_DEPLOY_TOKEN", lambda r: "gldt-" + _r(r, _URLSAFE, 20)
    ),
    "npm-access-token": _simple("npm-access-token", "NPM_TOKEN", lambda r: _checksummed(r, "npm_")),
    "pypi-upload-token": _simple(
        "pypi-upload-token", "PYPI_TOKEN", lambda r: "pypi-AgEIcHlwaS5vcmc" + _r(r, _URLSAFE, 160)
    ),
    "postgres-connection-string": _database("postgres-connection-string", "postgresql", 5432),
    "mysql-connection-string": _database("mysql-connection-string", "mysql", 3306),
    "mongodb-connection-string": _database("mongodb-connection-string", "mongodb+srv", 27017),
    "private-key": _private_key,
    "jwt": _jwt,
    "slack-bot-token": _simple(
        "slack-bot-token",
        "SLACK_BOT_TOKEN",
        lambda r: f"xoxb-{_digits(r, 12)}-{_digits(r, 13)}-{_r(r, _B62, 24)}",
    ),
    "slack-user-token": _simple(
        "slack-user-token",
        "SLACK_USER_TOKEN",
        lambda r: f"xoxp-{_digits(r, 12)}-{_digits(r, 12)}-{_digits(r, 13)}-{_r(r, _HEX, 32)}",
    ),
    "slack-app-token": _simple(
        "slack-app-token",
        "SLACK_APP_TOKEN",
        lambda r: (
            f"xapp-1-A{_r(r, string.ascii_uppercase + string.digits, 10)}-"
            f"{_digits(r, 13)}-{_r(r, _HEX, 64)}"
        ),
    ),
    "slack-webhook-url": _simple(
        "slack-webhook-url",
        "SLACK_WEBHOOK_URL",
        lambda r: _slack_workflow(r) if r.random() < 0.3 else _slack_webhook(r),
    ),
    "slack-config-token": _simple("slack-config-token", "SLACK_CONFIG_TOKEN", _slack_config),
    "stripe-secret-key": _simple(
        "stripe-secret-key", "STRIPE_SECRET_KEY", lambda r: "sk_live_" + _r(r, _B62, 99)
    ),
    "stripe-restricted-key": _simple(
        "stripe-restricted-key", "STRIPE_RESTRICTED_KEY", lambda r: "rk_live_" + _r(r, _B62, 99)
    ),
    "twilio-api-key": _simple("twilio-api-key", "TWILIO_API_KEY", lambda r: "SK" + _r(r, _HEX, 32)),
    "twilio-auth-token": _keyword(
        "twilio-auth-token", "TWILIO_AUTH_TOKEN", lambda r: _r(r, _HEX, 32)
    ),
    "sendgrid-api-key": _simple(
        "sendgrid-api-key",
        "SENDGRID_API_KEY",
        lambda r: "SG." + _r(r, _URLSAFE, 22) + "." + _r(r, _URLSAFE, 43),
    ),
    "atlassian-api-token": _simple(
        "atlassian-api-token",
        "JIRA_API_TOKEN",
        lambda r: "ATATT3" + _r(r, _URLSAFE, 177) + "=" + _r(r, "0123456789ABCDEF", 8),
    ),
    "atlassian-legacy-api-token": _keyword(
        "atlassian-legacy-api-token",
        "JIRA_API_TOKEN",
        lambda r: _r(r, string.ascii_lowercase + string.digits, 20) + _r(r, _HEX, 4),
    ),
    "notion-token": _simple(
        "notion-token", "NOTION_TOKEN", lambda r: "ntn_" + _digits(r, 11) + _r(r, _B62, 35)
    ),
    "linear-api-key": _simple(
        "linear-api-key", "LINEAR_API_KEY", lambda r: "lin_api_" + _r(r, _B62, 40)
    ),
    "salesforce-access-token": _simple(
        "salesforce-access-token",
        "SF_ACCESS_TOKEN",
        lambda r: "00D" + _r(r, _B62, 12) + "!" + _r(r, _B62, 96),
    ),
}


def sample(detector_id: str, rng: random.Random) -> Sample:
    """A fresh fake credential for ``detector_id`` (KeyError when none is defined)."""
    return GENERATORS[detector_id](rng)

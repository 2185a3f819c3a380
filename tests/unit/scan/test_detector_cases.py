"""Positive and negative cases per detector, in the contexts code really uses.

Negatives are the near-misses that make scanners noisy: placeholders, documented
example keys, one character short or long, a broken checksum, the keyword
missing, the token embedded in a longer string.
"""

from __future__ import annotations

import base64
import json

import pytest

from charter.discovery.scan.checks import sha256_hex
from charter.discovery.scan.detectors import all_detectors
from charter.domain.enums import Severity

from .helpers import fake, scan_text, swap_last

HEX32 = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
HEX40 = HEX32 + "8c7d6e5f"
UUID = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"


def _jwt(header: dict[str, object], payload: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}.{fake('jwt').token.rsplit('.', 1)[1]}"


def _t(detector: str) -> str:
    return fake(detector, 99).token


NEGATIVES: dict[str, list[str]] = {
    "openai-project-key": [
        "OPENAI_API_KEY=sk-proj-" + "x" * 60,
        "sk-proj-abc123DEF456",
        "sk-proj-...",
        "sk-proj-" + "your_api_key_here_" * 3,
    ],
    "openai-service-account-key": ["sk-svcacct-" + "X" * 50, "sk-svcacct-shortKey123"],
    "openai-admin-key": ["sk-admin-your_admin_key_goes_here_and_it_is_long", "sk-admin-abc"],
    "openai-legacy-key": [
        _t("openai-legacy-key").replace("T3BlbkFJ", "T3BlbkFX"),
        "sk-" + _t("groq-api-key")[4:52],
    ],
    "anthropic-api-key": [
        swap_last(_t("anthropic-api-key")),
        _t("anthropic-api-key")[:-3] + "AA",
        _t("anthropic-admin-key"),
    ],
    "anthropic-admin-key": [swap_last(_t("anthropic-admin-key")), _t("anthropic-api-key")],
    "google-api-key": [
        _t("google-api-key")[:-1],
        _t("google-api-key") + "Z",
        "x" + _t("google-api-key"),
    ],
    "huggingface-token": [
        "hf_" + "x" * 34,
        "- (id)hf_requiredCharacteristicTypesForDisplayMetadata;",
        "&hf_servingcellpriorityparametersdescription_h_prio",
    ],
    "huggingface-org-token": ["api_org_" + "X" * 34, "const api_org_controller = require('x')"],
    "groq-api-key": ["GROQ_API_KEY=gsk_" + "x" * 52, _t("groq-api-key")[:-1]],
    "xai-api-key": [_t("xai-api-key")[:-1], "xai-" + "X" * 80],
    "mistral-api-key": [
        "API_KEY=" + _t("mistral-api-key"),
        "MISTRAL_MODEL=mistral-large-latest",
        # the keyword must not reach into the next statement
        "MISTRAL_MODEL=mistral-large-latest\ncache_key = '" + _t("mistral-api-key") + "'",
        'mistral_key = "' + "a" * 32 + '"',
    ],
    "cohere-api-key": [
        "KEY=" + _t("cohere-api-key"),
        'co = cohere.Client(api_key=os.environ["CO_API_KEY"])',
    ],
    "deepseek-api-key": ["OPENAI_API_KEY=sk-" + HEX32, "DEEPSEEK_MODEL=deepseek-chat"],
    "openrouter-api-key": ["sk-or-v1-" + (HEX32 * 2)[:63], "sk-or-v1-" + "G" * 64],
    "replicate-api-token": [_t("replicate-api-token")[:-1], "r8_" + "x" * 37],
    "perplexity-api-key": [_t("perplexity-api-key")[:-1], "pplx-" + "x" * 48],
    "pinecone-api-key": ["PINECONE_API_KEY=pcsk_...", "pcsk_abc_" + _t("xai-api-key")[4:67]],
    "pinecone-legacy-api-key": [f'request_id = "{UUID}"', 'pinecone_index = "my-index"'],
    "langsmith-api-key": [f"lsv2_xx_{HEX32}_{HEX32[:10]}", f"LANGCHAIN_API_KEY=ls__{HEX32}"],
    "langfuse-secret-key": [f"LANGFUSE_PUBLIC_KEY=pk-lf-{UUID}", "sk-lf-1234"],
    "wandb-api-key": [f'commit = "{HEX40}"', "WANDB_PROJECT=my-project"],
    "wandb-api-key-v1": ["WANDB_API_KEY=wandb_v1_xxxxx", "wandb_v1_" + "X" * 27 + "_" + "Y" * 49],
    "azure-openai-key": [
        "AZURE_OPENAI_ENDPOINT=https://demo.openai.azure.com/",
        f"API_KEY={HEX32}",
    ],
    "databricks-token": [f"dapi{HEX32[:31]}", "dapi" + "z" * 32],
    "aws-access-key": [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "AKIA" + "ABCDEFGHIJKLMNO",
        "x" + _t("aws-access-key"),
        "akia" + "abcdefghijklmnop",
    ],
    "gcp-service-account-key": [
        fake("gcp-service-account-key").text.replace('"service_account"', '"authorized_user"'),
        json.dumps({"type": "service_account", "private_key_id": HEX40, "private_key": ""}),
    ],
    "azure-client-secret": [
        "client_secret=bP88Q~" + "x" * 34,
        "~" * 40,
        "'url': 'http://www.2doc.nl/speel~VARA_101375237~mh17-het-verdriet~.html'",
    ],
    "azure-storage-account-key": ["AccountKey=" + "A" * 86 + "==", "AccountKey=short=="],
    "google-oauth-client-secret": [_t("google-oauth-client-secret")[:-1], "GOCSPX-" + "x" * 28],
    "github-pat": [swap_last(_t("github-pat")), "ghp_" + "x" * 36, _t("github-pat") + "A"],
    "github-oauth-token": [swap_last(_t("github-oauth-token")), "gho_" + "a" * 36],
    "github-user-token": [swap_last(_t("github-user-token")), "ghu_" + "b" * 36],
    "github-app-token": [swap_last(_t("github-app-token")), "ghs_" + "c" * 36],
    "github-refresh-token": [swap_last(_t("github-refresh-token")), "ghr_" + "d" * 36],
    "github-fine-grained-pat": [
        _t("github-fine-grained-pat")[:-1],
        "github_pat_" + "X" * 22 + "_" + "X" * 59,
    ],
    "gitlab-pat": ["glpat-XXXXXXXXXXX-XXXXXXXX", "glpat-short"],
    "gitlab-pipeline-trigger-token": ["glptt-" + "x" * 40, "glptt-" + HEX40[:39]],
    "gitlab-runner-token": ["glrt-tx_" + "x" * 27 + ".xxxxxxxxx", "glrt-" + "a1B2c3D4e5F6g7H8i9J"],
    "gitlab-deploy-token": ["gldt-" + "x" * 20, "gldt-" + "a1B2c3D4e5F6g7H8i9J"],
    "npm-access-token": [swap_last(_t("npm-access-token")), "npm_" + "x" * 36],
    "pypi-upload-token": ["pypi-AgEIcHlwaS5vcmcshort", "pypi-" + _t("xai-api-key")[4:]],
    "postgres-connection-string": [
        "postgresql://user:password@localhost:5432/db",
        "postgres://app:${DB_PASSWORD}@db/app",
        "postgresql://localhost/db",
        "postgres://postgres:postgres@localhost",
    ],
    "mysql-connection-string": [
        "mysql://root:root@localhost/x",
        "mysql+pymysql://user:<password>@host/db",
        "mysql://user:%s@%s/db",
    ],
    "mongodb-connection-string": [
        "mongodb+srv://<username>:<password>@cluster0.mongodb.net",
        "mongodb://admin:{password}@host:27017",
    ],
    "private-key": [
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        fake("private-key").text.split("-----END")[0],
        fake("private-key").text.replace("RSA PRIVATE", "PUBLIC"),
    ],
    "jwt": [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
        "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        _jwt({"alg": "none"}, {"sub": "x", "exp": 4102444800}),
        "eyJub3QganNvbi4uLi4uLi4.eyJhbHNvIG5vdCBqc29uLi4.c2lnbmF0dXJlc2lnbmF0dXJl",
        fake("jwt").token.rsplit(".", 1)[0],
    ],
    "slack-bot-token": [
        "xoxb-xxxxxxxxx-xxxxxxxxxx-xxxxxxxxxxxx",
        "xoxb-12345-abcd234",
        "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    ],
    "slack-user-token": ["xoxp-1234567890", "xoxp-XXXXXXXXXX-XXXXXXXXXX-XXXXXXXXXXX-" + "X" * 32],
    "slack-app-token": ["xapp-1-XXXX", "xapp-1-A0123-45-" + "z" * 64],
    "slack-config-token": [
        "xoxe.xoxp-1-SlackAppConfigurationAccessTokenHere",
        "xoxe.xoxp-1-RANDOMSTRINGHERE",
        "xoxe-1-xxx",
        "xoxe-1-" + _t("slack-config-token").rsplit("-", 1)[-1][:145],
    ],
    "slack-webhook-url": [
        "https://hooks.slack.com/services/T00000000/B00000000/" + "X" * 24,
        "https://hooks.slack.com/services/TXXXX/BXXXX/short",
    ],
    "stripe-secret-key": [
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_live_" + "x" * 24,
        _t("stripe-secret-key")[:31],
    ],
    "stripe-restricted-key": ["rk_live_short", "rk_test_" + "X" * 24],
    "twilio-api-key": ["SK" + HEX32[:31], "SK" + HEX32.upper()],
    "twilio-auth-token": ["TWILIO_ACCOUNT_SID=AC" + HEX32, f"TOKEN={HEX32}"],
    "sendgrid-api-key": [_t("sendgrid-api-key")[:-1], "SG.xxxxxxxxxxxxxxxxxxxxxx." + "x" * 43],
    "atlassian-api-token": ["JIRA_API_TOKEN=ATATT3xFfGF0...", "ATATT3" + "x" * 186],
    "atlassian-legacy-api-token": [
        "JIRA_PROJECT=SUPPORT",
        "confluence_space = 'ENGINEERINGHANDBOOKPAGES'",  # one case: low entropy
        "jira_token = abcdefghijklmnopqrstuvwx",
        "token = " + _t("atlassian-legacy-api-token"),  # no keyword
    ],
    "notion-token": [
        "ntn_1234567890" + "a" * 35,
        "secret_" + _t("linear-api-key")[8:50],
        'secret_key = "not-a-notion-token"',
    ],
    "linear-api-key": [_t("linear-api-key")[:-1], "lin_api_" + "x" * 40],
    "salesforce-access-token": [_t("salesforce-access-token")[:95], "00Dxx0000001gPL!" + "X" * 96],
}


def _contexts(detector_id: str) -> list[str]:
    credential = fake(detector_id, 7)
    env, token = credential.env, credential.token
    if credential.multiline:
        return [credential.text, "\n".join("    " + line for line in credential.text.splitlines())]
    keyworded = [
        f"{env}={token}",
        f'"{env}": "{token}",',
        f"{env.lower()}: {token}",
        f"export {env}='{token}'",
        f'os.environ["{env}"] = "{token}"',
    ]
    if credential.needs_keyword:
        return keyworded
    return [
        *keyworded,
        f'client = Client(api_key="{token}")',
        f'headers = {{"Authorization": "Bearer {token}"}}',
        f'curl -H "Authorization: Bearer {token}" https://api.example.test',
        token,
    ]


@pytest.mark.parametrize("detector_id", [d.id for d in all_detectors()])
def test_found_in_every_realistic_context(detector_id: str) -> None:
    credential = fake(detector_id, 7)
    for context in _contexts(detector_id):
        hits = [h for h in scan_text(f"x = 1\n{context}\ny = 2\n") if h.detector == detector_id]
        assert len(hits) == 1, context[:120]
        assert hits[0].fingerprint == sha256_hex(credential.secret.encode())


def test_aws_secret_on_the_same_line_or_nearby_raises_severity() -> None:
    credential = fake("aws-access-key")
    secret = credential.text.split("= ")[-1]
    csv = f"user,key,secret\nci-bot,{credential.token},{secret}\n"
    nearby = scan_text(csv)
    assert [h.severity for h in nearby] == [Severity.CRITICAL]
    assert nearby[0].properties["secret_nearby"] is True
    alone = scan_text(f"key_id: {credential.token}\n")
    assert [h.severity for h in alone] == [Severity.INFO]
    assert alone[0].properties["secret_nearby"] is False
    assert alone[0].fingerprint == nearby[0].fingerprint  # the key id identifies the credential


def test_keyword_contexts_that_sdks_use() -> None:
    mistral, cohere = _t("mistral-api-key"), _t("cohere-api-key")
    azure, wandb = HEX32, HEX40
    text = "\n".join(
        [
            f'client = Mistral(api_key="{mistral}")',
            f'co = cohere.Client("{cohere}")',
            f'llm = AzureOpenAI(\n    api_key="{azure}",\n    api_version="2024-06-01",\n)',
            f'wandb.login(key="{wandb}")',
        ]
    )
    found = {h.detector: h.line for h in scan_text(text)}
    assert found == {
        "mistral-api-key": 1,
        "cohere-api-key": 2,
        "azure-openai-key": 4,
        "wandb-api-key": 7,
    }


def test_pem_in_json_and_in_a_file_have_one_fingerprint() -> None:
    pem = fake("private-key").text
    as_json = json.dumps({"app_id": 1234, "private_key": pem + "\n"})
    in_file, in_json = scan_text(pem), scan_text(as_json)
    assert [h.detector for h in in_file] == [h.detector for h in in_json] == ["private-key"]
    assert in_file[0].fingerprint == in_json[0].fingerprint


def test_gcp_key_file_is_one_finding_with_its_service_account() -> None:
    hits = scan_text(fake("gcp-service-account-key").text)
    assert [h.detector for h in hits] == ["gcp-service-account-key"]
    assert hits[0].properties["client_email"].endswith(".iam.gserviceaccount.com")


def test_jwt_severity_follows_its_expiry() -> None:
    forever = _jwt({"alg": "RS256"}, {"sub": "svc", "iss": "https://idp.test"})
    expired = _jwt({"alg": "HS256"}, {"sub": "svc", "exp": 1_000_000_000})
    assert [h.severity for h in scan_text(forever)] == [Severity.HIGH]
    assert [h.severity for h in scan_text(expired)] == [Severity.LOW]
    assert scan_text(expired)[0].properties["expires_at"].startswith("2001-09-09")


def test_stripe_test_keys_are_low_live_keys_critical() -> None:
    live = _t("stripe-secret-key")
    test = live.replace("sk_live_", "sk_test_")
    assert [h.severity for h in scan_text(live)] == [Severity.CRITICAL]
    assert [h.severity for h in scan_text(test)] == [Severity.LOW]


def test_connection_string_preview_keeps_user_and_host_not_password() -> None:
    credential = fake("postgres-connection-string")
    hit = scan_text(credential.text)[0]
    password = credential.secret.split(":")[1].split("@")[0]
    assert password not in hit.preview
    assert hit.preview.startswith("postgresql://svc_") and "@db-" in hit.preview
    assert hit.preview.split("…")[1].startswith(password[-4:])


def test_inline_allow_marks_the_hit() -> None:
    token = _t("github-pat")
    same_line = scan_text(f"TOKEN={token}  # charter:allow test fixture\n")
    line_above = scan_text(f"# charter:allow\nTOKEN={token}\n")
    elsewhere = scan_text(f"# charter:allow\n\nTOKEN={token}\n")
    assert same_line[0].allowed and line_above[0].allowed
    assert not elsewhere[0].allowed

"""The shapes of gitleaks' public rule samples for providers we claim (cmd/generate/config/
rules: slack.go, stripe.go, atlassian.go). Values are synthesised here in those shapes —
never copied — and built by concatenation so no literal looks like a live key."""

from __future__ import annotations

import base64
import random
import string

import pytest

from charter.domain.enums import Severity

from .helpers import scan_text

RNG = random.Random("gitleaks-shapes")
ALNUM = string.ascii_letters + string.digits


def _r(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def _ids(*lengths: int) -> str:
    return "-".join(str(RNG.randint(1, 9)) + _r(string.digits, n - 1) for n in lengths)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode().rstrip("=")


REFRESH = "xoxe" + "-1-" + _b64(f"3-1-{_ids(12, 13, 13)}-{_r('0123456789abcdef', 64)}")
ACCESS_P = "xoxe.xoxp" + "-1-" + _b64(f"2-2-{_ids(12, 13, 13, 13)}-{_r('0123456789abcdef', 64)}")
ACCESS_B = "xoxe.xoxb" + "-1-" + _b64(f"2-2-{_ids(12, 13, 13, 13)}-{_r('0123456789abcdef', 64)}")
UPPER = string.ascii_uppercase + string.digits
WORKFLOW = (
    "hooks.slack.com/workflows/T"
    + _r(UPPER, 10)
    + "/A"
    + _r(UPPER, 10)
    + "/"
    + _ids(18)
    + "/"
    + _r(ALNUM, 24)
)
SERVICE_SHORT_B = "hooks.slack.com/services/T" + _r(UPPER, 8) + "/B" + _r(UPPER, 7) + "/"
SERVICE_SHORT_B += _r(ALNUM, 24)


@pytest.mark.parametrize(
    ("text", "rule", "secret"),
    [
        (f'"refresh_token1": "{REFRESH}"', "slack-config-token", REFRESH),
        (f'"access_token1": "{ACCESS_P}"', "slack-config-token", ACCESS_P),
        (f'"access_token4": "{ACCESS_B}"', "slack-config-token", ACCESS_B),
        (f"https://{WORKFLOW}", "slack-webhook-url", f"https://{WORKFLOW}"),
        (f"http://{WORKFLOW}", "slack-webhook-url", f"http://{WORKFLOW}"),
        (f"http://{SERVICE_SHORT_B}", "slack-webhook-url", f"http://{SERVICE_SHORT_B}"),
    ],
)
def test_slack_shapes(text: str, rule: str, secret: str) -> None:
    hits = scan_text(text)
    assert [h.detector for h in hits] == [rule]
    assert secret[-4:] in hits[0].preview and secret not in hits[0].preview


@pytest.mark.parametrize("kind", ["sk", "rk"])
@pytest.mark.parametrize(
    ("mode", "severity"), [("live", "critical"), ("prod", "critical"), ("test", "low")]
)
def test_stripe_keys_in_every_mode(kind: str, mode: str, severity: str) -> None:
    key = f"{kind}_{mode}_" + _r(ALNUM, 30)
    hits = scan_text(f'stripeToken := "{key}"')
    rule = "stripe-secret-key" if kind == "sk" else "stripe-restricted-key"
    assert [(h.detector, h.severity) for h in hits] == [(rule, Severity(severity))]
    assert hits[0].properties["mode"] == mode


@pytest.mark.parametrize(
    "template",
    [
        'atlassianToken := "{v}"',
        "confluence_api_token = '{v}'",
        "JIRA_API_TOKEN={v}",
        'jira: "{v}"',
        "atlassian_key => {v}",
    ],
)
def test_atlassian_legacy_tokens_beside_their_keyword(template: str) -> None:
    value = _r(string.ascii_lowercase + string.digits, 20) + _r("0123456789abcdef", 4)
    value = value[:3] + "7" + value[4:]  # a digit, whatever the draw
    hits = scan_text(template.format(v=value))
    assert [h.detector for h in hits] == ["atlassian-legacy-api-token"]


def test_atlassian_legacy_needs_its_keyword() -> None:
    value = _r(string.ascii_lowercase, 10) + "42" + _r(string.ascii_lowercase + string.digits, 12)
    assert scan_text(f"token = '{value}'") == []

"""Detectors for the SaaS systems agents are wired into: chat, payments, messaging,
email, issue trackers, CRM and docs.
"""

from __future__ import annotations

import dataclasses
import re

from charter.discovery.scan.detector import (
    REGISTRY,
    Detector,
    Refined,
    keyword_detector,
    prefixed,
    revoke,
)
from charter.domain.enums import CredentialKind, Severity

_B62 = "[A-Za-z0-9]"


def _stripe_refine(detector: Detector, data: bytes, match: re.Match[bytes]) -> Refined | None:
    refined = detector.default_refine(match)
    if refined is None:
        return None
    mode = refined.secret[3:7].decode()  # "live", "prod" or "test"
    return dataclasses.replace(
        refined,
        properties={"mode": mode},
        severity=Severity.LOW if mode == "test" else Severity.CRITICAL,
    )


def _letters_and_digits(value: bytes) -> bool:
    """Random tokens mix both; a word or a number next to a keyword is not one."""
    return any(c in b"0123456789" for c in value) and any(chr(c).isalpha() for c in value)


_STRIPE_DOCS = ("https://docs.stripe.com/keys",)
_SLACK_DOCS = ("https://api.slack.com/concepts/token-types",)

REGISTRY.add(
    prefixed(
        id="slack-bot-token",
        title="Slack bot token",
        provider="Slack",
        system="slack",
        prefixes=("xoxb-",),
        body=f"[0-9]{{8,13}}-(?:[0-9]{{8,13}}-)?{_B62}{{18,34}}",
        kind=CredentialKind.TOKEN,
        description="A Slack bot token (xoxb-): reads and posts in every channel the bot "
        "was added to.",
        remediation=revoke("the Slack app's OAuth & Permissions page (revoke, reinstall)"),
        references=_SLACK_DOCS,
    ),
    prefixed(
        id="slack-user-token",
        title="Slack user token",
        provider="Slack",
        system="slack",
        prefixes=("xoxp-", "xoxe-"),
        body="(?:[0-9]{8,13}-){3}[A-Za-z0-9]{28,34}",
        kind=CredentialKind.TOKEN,
        severity=Severity.CRITICAL,
        description="A Slack user token (xoxp-): everything the user can see and do, "
        "including DMs.",
        remediation=revoke("the Slack app's OAuth & Permissions page"),
        references=_SLACK_DOCS,
    ),
    prefixed(
        id="slack-config-token",
        title="Slack app configuration token",
        provider="Slack",
        system="slack",
        prefixes=("xoxe.xoxp-", "xoxe.xoxb-", "xoxe-"),
        # access: xoxe.xoxp-1-<163-166>; refresh: xoxe-1-<146> (base64 of the token's parts)
        body=f"[0-9]-(?:(?<=xox[bp]-[0-9]-){_B62}{{163,166}}|(?<=xoxe-[0-9]-){_B62}{{146}})",
        kind=CredentialKind.TOKEN,
        severity=Severity.CRITICAL,
        description="A Slack app configuration token (xoxe.xoxp-/xoxe.xoxb- access, xoxe- "
        "refresh): creates and changes Slack apps across the workspace.",
        remediation=revoke("Slack (api.slack.com/apps → Your App Configuration Tokens)"),
        references=("https://api.slack.com/authentication/config-tokens",),
    ),
    prefixed(
        id="slack-app-token",
        title="Slack app-level token",
        provider="Slack",
        system="slack",
        prefixes=("xapp-",),
        body="[0-9]-[A-Z0-9]{9,14}-[0-9]{10,16}-[a-f0-9]{40,80}",
        kind=CredentialKind.TOKEN,
        description="A Slack app-level token (xapp-): opens Socket Mode connections for the app.",
        remediation=revoke("the Slack app's Basic Information page (App-Level Tokens)"),
        references=_SLACK_DOCS,
    ),
    Detector(
        id="slack-webhook-url",
        title="Slack incoming webhook URL",
        provider="Slack",
        system="slack",
        kind=CredentialKind.TOKEN,
        severity=Severity.MEDIUM,
        prefilter=r"hooks\.slack\.com/(?:services|workflows|triggers)/T",
        pattern=r"(?P<secret>https?://hooks\.slack\.com/(?:services/T[A-Z0-9]{8,12}"
        r"/B[A-Z0-9]{6,12}/[A-Za-z0-9]{24}|(?:workflows|triggers)/T[A-Z0-9]{8,12}"
        r"/A[A-Z0-9]{8,12}/[0-9]{8,20}/[A-Za-z0-9]{23,32}))(?![A-Za-z0-9])",
        prefixes=tuple(
            f"{scheme}://hooks.slack.com/{kind}/"
            for scheme in ("https", "http")
            for kind in ("services", "workflows", "triggers")
        ),
        description="A Slack incoming webhook or workflow (trigger) webhook: anyone holding "
        "the URL posts into its channel or starts the workflow.",
        remediation=revoke("the Slack app's Incoming Webhooks page"),
        references=("https://api.slack.com/messaging/webhooks",),
        window_before=8,
        window_after=200,
    ),
    prefixed(
        id="stripe-secret-key",
        title="Stripe secret key",
        provider="Stripe",
        system="stripe",
        prefixes=("sk_live_", "sk_prod_", "sk_test_"),
        body=f"{_B62}{{24,247}}",
        description="A Stripe secret key (sk_live_/sk_prod_ move real money; sk_test_ is test "
        "mode).",
        remediation=revoke("the Stripe dashboard (Developers → API keys; roll the key)"),
        references=_STRIPE_DOCS,
        refine=_stripe_refine,
    ),
    prefixed(
        id="stripe-restricted-key",
        title="Stripe restricted key",
        provider="Stripe",
        system="stripe",
        prefixes=("rk_live_", "rk_prod_", "rk_test_"),
        body=f"{_B62}{{24,247}}",
        description="A Stripe restricted key (rk_live_/rk_prod_/rk_test_): the permissions "
        "chosen when it was created.",
        remediation=revoke("the Stripe dashboard (Developers → API keys)"),
        references=_STRIPE_DOCS,
        refine=_stripe_refine,
    ),
    prefixed(
        id="twilio-api-key",
        title="Twilio API key SID",
        provider="Twilio",
        system="twilio",
        prefixes=("SK",),
        body="[0-9a-f]{32}",
        prefilter="SK[0-9a-f]{32}",
        severity=Severity.MEDIUM,
        description="A Twilio API key SID (SK + 32 hex): half of a Twilio API credential.",
        remediation=revoke("the Twilio console (API keys & tokens)"),
        references=("https://www.twilio.com/docs/iam/api-keys",),
        min_entropy=3.0,
    ),
    keyword_detector(
        id="twilio-auth-token",
        title="Twilio auth token",
        provider="Twilio",
        system="twilio",
        keywords=("twilio",),
        value="[a-f0-9]{32}",
        description="A Twilio account auth token: 32 hex next to 'twilio'; with the account "
        "SID it is full account access (SMS, calls, billing).",
        remediation=revoke("the Twilio console (rotate the auth token)"),
        references=("https://www.twilio.com/docs/iam/api/authtoken",),
    ),
    prefixed(
        id="sendgrid-api-key",
        title="SendGrid API key",
        provider="SendGrid",
        system="sendgrid",
        prefixes=("SG.",),
        body=r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        prefilter=r"SG\.[A-Za-z0-9_-]{22}\.",
        description="A SendGrid API key (SG.<22>.<43>): sends mail as the account.",
        remediation=revoke("SendGrid (Settings → API Keys)"),
        references=("https://www.twilio.com/docs/sendgrid/ui/account-and-settings/api-keys",),
    ),
    prefixed(
        id="atlassian-api-token",
        title="Atlassian API token",
        provider="Atlassian",
        system="atlassian",
        prefixes=("ATATT3",),
        body=r"[A-Za-z0-9_\-=]{186}",
        kind=CredentialKind.TOKEN,
        description="An Atlassian Cloud API token (ATATT3…, with its CRC suffix): Jira and "
        "Confluence as the user.",
        remediation=revoke("id.atlassian.com (Security → API tokens)"),
        references=(
            "https://support.atlassian.com/atlassian-account/docs/manage-api-tokens-for-your-atlassian-account/",
        ),
    ),
    keyword_detector(
        id="atlassian-legacy-api-token",
        title="Atlassian API token (legacy)",
        provider="Atlassian",
        system="atlassian",
        keywords=("atlassian", "confluence", "jira"),
        value="[A-Za-z0-9]{24}",
        check=_letters_and_digits,
        description="An Atlassian API token from before the ATATT3 format: 24 characters "
        "next to 'atlassian', 'confluence' or 'jira'; Jira and Confluence as the user.",
        remediation=revoke("id.atlassian.com (Security → API tokens)"),
        references=(
            "https://support.atlassian.com/atlassian-account/docs/manage-api-tokens-for-your-atlassian-account/",
        ),
    ),
    prefixed(
        id="notion-token",
        title="Notion integration token",
        provider="Notion",
        system="notion",
        prefixes=("ntn_", "secret_"),
        body=f"(?:(?<=ntn_)[0-9]{{11}}{_B62}{{35}}|(?<=secret_){_B62}{{43}})",
        prefilter=f"ntn_[0-9]{{11}}|secret_{_B62}{{43}}",
        kind=CredentialKind.TOKEN,
        description="A Notion integration token (ntn_, or the older secret_ + 43): reads and "
        "writes the pages shared with the integration.",
        remediation=revoke("Notion (Settings → Connections → Develop or manage integrations)"),
        references=("https://developers.notion.com/docs/authorization",),
    ),
    prefixed(
        id="linear-api-key",
        title="Linear API key",
        provider="Linear",
        system="linear",
        prefixes=("lin_api_",),
        body=f"{_B62}{{40}}",
        description="A Linear personal API key (lin_api_ + 40).",
        remediation=revoke("Linear (Settings → Security & access → API keys)"),
        references=("https://linear.app/developers/graphql#personal-api-keys",),
    ),
    Detector(
        id="salesforce-access-token",
        title="Salesforce access token (session id)",
        provider="Salesforce",
        system="salesforce",
        kind=CredentialKind.TOKEN,
        severity=Severity.HIGH,
        prefilter="00D[A-Za-z0-9]{12,15}!",
        pattern=r"(?<![A-Za-z0-9])(?P<secret>00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]{80,140})"
        r"(?![A-Za-z0-9._])",
        prefixes=("00D",),
        description="A Salesforce access token / session id (org id 00D…!…): the user's "
        "access until the session ends.",
        remediation=revoke("Salesforce Setup (Session Management → remove the session)"),
        references=(
            "https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flows.htm",
        ),
        window_after=200,
    ),
)

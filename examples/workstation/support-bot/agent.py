"""A LangGraph agent that triages support tickets (example for the Charter demo)."""

import os

from github import Github
from langchain_openai import ChatOpenAI
from langgraph.prebuilt import create_react_agent
from slack_sdk import WebClient

slack = WebClient(token=os.environ["SLACK_BOT_TOKEN"])
github = Github(os.environ["GITHUB_TOKEN"])
model = ChatOpenAI(model="gpt-4o-mini", api_key=os.environ["OPENAI_API_KEY"])


def file_issue(title: str, body: str) -> str:
    """Open a follow-up issue in the support repository."""
    issue = github.get_repo("acme/support").create_issue(title=title, body=body)
    return issue.html_url


agent = create_react_agent(model, tools=[file_issue])

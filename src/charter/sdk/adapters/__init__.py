"""Thin adapters that put :func:`charter.sdk.guard` in front of framework tools.

Optional extras: ``pip install 'charter[langchain]'`` for
:mod:`charter.sdk.adapters.langchain`, ``'charter[openai-agents]'`` for
:mod:`charter.sdk.adapters.openai_agents`. Neither is imported here, so the SDK
works without them.
"""

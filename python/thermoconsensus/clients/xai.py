"""xAI's API (Grok): OpenAI-compatible at api.x.ai, key from XAI_API_KEY."""

from __future__ import annotations

from .openai_compatible import OpenAICompatibleClient

__all__ = ["XAIClient"]


class XAIClient(OpenAICompatibleClient):
    """``XAIClient("grok-3-mini")``: chat, streaming and logprobs in OpenAI's wire format."""

    provider = "xai"
    key_env = ("XAI_API_KEY",)
    key_required = True
    default_base_url = "https://api.x.ai/v1"

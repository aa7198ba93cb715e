"""OpenAI's own API: the Chat Completions wire format at api.openai.com, key from OPENAI_API_KEY."""

from __future__ import annotations

from typing import Any

from ._secret import Secret
from .openai_compatible import OpenAICompatibleClient

__all__ = ["OpenAIClient"]


class OpenAIClient(OpenAICompatibleClient):
    """``OpenAIClient("gpt-4o-mini")``: chat (logprobs, tools passed through), streaming, embeddings.

    The key comes from ``api_key`` or ``OPENAI_API_KEY``; ``organization`` / ``project`` (or
    ``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``) are sent as OpenAI's headers when given.
    """

    provider = "openai"
    key_env = ("OPENAI_API_KEY",)
    key_required = True
    default_base_url = "https://api.openai.com/v1"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | Secret | None = None,
        organization: str | None = None,
        project: str | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> None:
        import os

        extra = dict(headers or {})
        org = organization or os.environ.get("OPENAI_ORG_ID")
        proj = project or os.environ.get("OPENAI_PROJECT_ID")
        if org:
            extra["OpenAI-Organization"] = org
        if proj:
            extra["OpenAI-Project"] = proj
        super().__init__(model, api_key=api_key, headers=extra, **options)

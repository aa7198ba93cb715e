"""Clients from short specs, as the CLI and router configs name them: ``provider:model[@base_url]``."""

from __future__ import annotations

from typing import Any

from .base import LLMClient

__all__ = ["PROVIDERS", "create_client"]

#: Provider names accepted in specs and configs.
PROVIDERS = ("openai", "anthropic", "gemini", "xai", "openai-compatible", "llama.cpp", "local")


def create_client(spec: str, **options: Any) -> LLMClient:
    """A client from ``spec``:

    * ``openai:gpt-4o-mini``, ``anthropic:claude-3-5-haiku-latest``, ``gemini:gemini-2.0-flash``,
      ``xai:grok-3-mini`` (keys from the usual environment variables, or ``api_key=``);
    * ``openai-compatible:MODEL@http://127.0.0.1:8080/v1`` (vLLM, llama-server, ``thermoconsensus serve``);
    * ``llama.cpp:@http://127.0.0.1:8080`` (llama-server's native /completion);
    * ``local:smollm2-135m`` or ``local:/path/model.gguf`` (the in-process engine).

    ``options`` go to the client's constructor (timeout, retry, cache, max_concurrency...).
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(
            f"model spec {spec!r}: expected 'provider:model[@base_url]', e.g. 'openai:gpt-4o-mini'"
        )
    provider, _, rest = spec.partition(":")
    provider = provider.strip().lower()
    model, at, base_url = rest.partition("@")
    if at and not base_url:
        raise ValueError(f"model spec {spec!r}: empty base URL after '@'")
    if at:
        options.setdefault("base_url", base_url)
    if provider == "local":
        from .local import LocalClient

        if not model:
            raise ValueError(f"model spec {spec!r}: 'local:' needs a model name or a .gguf path")
        return LocalClient(model, **options)
    if provider == "llama.cpp":
        from .llamacpp import LlamaCppClient

        return LlamaCppClient(model or "default", **options)
    if not model:
        raise ValueError(f"model spec {spec!r}: no model name")
    if provider == "openai":
        from .openai import OpenAIClient

        return OpenAIClient(model, **options)
    if provider == "anthropic":
        from .anthropic import AnthropicClient

        return AnthropicClient(model, **options)
    if provider == "gemini":
        from .gemini import GeminiClient

        return GeminiClient(model, **options)
    if provider == "xai":
        from .xai import XAIClient

        return XAIClient(model, **options)
    if provider == "openai-compatible":
        from .openai_compatible import OpenAICompatibleClient

        if "base_url" not in options:
            raise ValueError(f"model spec {spec!r}: openai-compatible needs '@base_url'")
        return OpenAICompatibleClient(model, **options)
    raise ValueError(
        f"model spec {spec!r}: unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
    )

"""Routers from JSON or TOML files.

```toml
default = "general"          # used when no rule matches (default: the first endpoint)
strategy = "rules"           # or "thompson", "energy"
temperature = 0.1            # Boltzmann temperature of the "energy" strategy
state = "router-state.json"  # optional: where learned posteriors persist (relative to this file)

[[endpoints]]
name = "math"
model = "openai-compatible:qwen2-math@http://127.0.0.1:8081/v1"   # a spec as create_client takes
keywords = ["integral", "derivative", "solve", "equation"]
patterns = ['\\d+\\s*[-+*/^]\\s*\\d+']
domain = "math"
context_length = 4096

[[endpoints]]
name = "general"
model = "openai:gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"   # optional: which variable holds the key
timeout = 30
```
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Union

from ..clients.registry import create_client
from .learning import EnergyWeights
from .router import Endpoint, Router

__all__ = ["load_router", "parse_config"]

PathArg = Union[str, "os.PathLike[str]"]

_TOP = {"default", "strategy", "temperature", "state", "weights", "endpoints", "down_for", "seed"}
_ENDPOINT = {
    "name",
    "model",
    "keywords",
    "patterns",
    "domain",
    "context_length",
    "cost_per_million",
    "latency_s",
    "api_key_env",
    "timeout",
    "max_concurrency",
    "requests_per_minute",
    "tokens_per_minute",
}
_CLIENT_OPTIONS = ("timeout", "max_concurrency", "requests_per_minute", "tokens_per_minute")


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python < 3.11
            import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def parse_config(config: dict[str, Any], base_dir: Path | None = None, **client_options: Any) -> Router:
    """A :class:`Router` from a config mapping (the file's contents); ``client_options`` go to every
    client (e.g. ``transport=`` in tests)."""
    if not isinstance(config, dict):
        raise ValueError("router config: expected a table/object at the top level")
    unknown = sorted(set(config) - _TOP)
    if unknown:
        raise ValueError(f"router config: unknown keys {unknown} (known: {sorted(_TOP)})")
    raw = config.get("endpoints")
    if not isinstance(raw, list) or not raw:
        raise ValueError("router config: 'endpoints' must be a non-empty list")
    endpoints = []
    for i, spec in enumerate(raw):
        if not isinstance(spec, dict):
            raise ValueError(f"router config: endpoints[{i}] must be a table/object")
        bad = sorted(set(spec) - _ENDPOINT)
        if bad:
            raise ValueError(
                f"router config: endpoints[{i}] has unknown keys {bad} (known: {sorted(_ENDPOINT)})"
            )
        for key in ("name", "model"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise ValueError(f"router config: endpoints[{i}] needs a string '{key}'")
        options = dict(client_options)
        options.update({k: spec[k] for k in _CLIENT_OPTIONS if k in spec})
        if "api_key_env" in spec:
            key = os.environ.get(str(spec["api_key_env"]), "")
            if not key:
                raise ValueError(
                    f"router config: {spec['name']}: environment variable {spec['api_key_env']} is not set"
                )
            options["api_key"] = key
        endpoints.append(
            Endpoint(
                spec["name"],
                create_client(spec["model"], **options),
                keywords=tuple(spec.get("keywords", ())),
                patterns=tuple(spec.get("patterns", ())),
                domain=spec.get("domain"),
                context_length=spec.get("context_length", 8192),
                cost_per_million=spec.get("cost_per_million"),
                latency_s=float(spec.get("latency_s", 1.0)),
            )
        )
    state = config.get("state")
    if state is not None:
        state = Path(state) if base_dir is None or Path(state).is_absolute() else base_dir / state
    weights = config.get("weights")
    if weights is not None and not isinstance(weights, dict):
        raise ValueError("router config: 'weights' must be a table/object")
    return Router(
        endpoints,
        default=config.get("default"),
        strategy=config.get("strategy", "rules"),
        temperature=config.get("temperature", 0.1),
        weights=EnergyWeights(**weights) if weights else None,
        state_path=state,
        down_for=float(config.get("down_for", 30.0)),
        seed=config.get("seed"),
    )


def load_router(path: PathArg, **client_options: Any) -> Router:
    """A :class:`Router` from a ``.toml`` or ``.json`` file (see the module docstring for the format)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"router config {p} does not exist")
    return parse_config(_read(p), p.parent, **client_options)

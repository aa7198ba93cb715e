"""Tools across vendors: OpenAI's shapes (the ones :class:`~thermoconsensus.clients.ChatRequest` and
:class:`~thermoconsensus.clients.LLMResponse` speak) to and from Anthropic's Messages API and Gemini's.

- Tool definitions: OpenAI ``{"type": "function", "function": {name, description, parameters}}``;
  Anthropic ``{name, description, input_schema}``; Gemini ``{"functionDeclarations": [{name,
  description, parameters}]}``. Entries already in the vendor's own shape pass through unchanged.
- ``tool_choice``: "auto" / "none" / "required" / ``{"type": "function", "function": {"name"}}``;
  Anthropic ``{"type": "auto" | "none" | "any" | "tool", "name"}``; Gemini ``toolConfig``'s
  ``functionCallingConfig`` (mode AUTO / NONE / ANY, ``allowedFunctionNames``).
- An assistant's tool calls (``tool_calls``, arguments a JSON text) become Anthropic ``tool_use`` blocks
  or Gemini ``functionCall`` parts; a "tool" message (``tool_call_id``, content) becomes a user turn's
  ``tool_result`` block or a ``functionResponse`` part (which Gemini matches by function name).
- Replies' calls come back as OpenAI ``tool_calls`` (id, type "function", name, arguments JSON text).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .types import Message, content_text

__all__ = [
    "anthropic_messages",
    "anthropic_tool_choice",
    "anthropic_tools",
    "from_anthropic_block",
    "from_gemini_call",
    "gemini_contents",
    "gemini_tool_config",
    "gemini_tools",
    "openai_call",
]


def _function(tool: Any) -> dict[str, Any] | None:
    """The ``function`` of an OpenAI-shaped tool, or None when ``tool`` is in another shape."""
    if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        fn: dict[str, Any] = tool["function"]
        return fn
    return None


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI tool call's arguments as an object (ValueError when they are not a JSON object)."""
    args = (call.get("function") or {}).get("arguments", "{}")
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except ValueError:
            raise ValueError(f"tool call {call.get('id')!r}: arguments are not JSON: {args[:80]!r}") from None
    if not isinstance(args, dict):
        raise ValueError(f"tool call {call.get('id')!r}: arguments must be a JSON object")
    return args


def openai_call(name: str, arguments: Any, call_id: str | None = None) -> dict[str, Any]:
    """A tool call in OpenAI's shape."""
    return {
        "id": call_id or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {
            "name": name,
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments or {}),
        },
    }


def _choice_name(choice: Any) -> str | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return str(name) if name else None
    return None


# -- Anthropic -------------------------------------------------------------------------------------


def anthropic_tools(tools: list[Any]) -> list[Any]:
    """OpenAI tool definitions as Anthropic's."""
    out = []
    for t in tools:
        fn = _function(t)
        if fn is None:
            out.append(t)
            continue
        item: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            item["description"] = fn["description"]
        out.append(item)
    return out


def anthropic_tool_choice(choice: Any) -> Any:
    """OpenAI's ``tool_choice`` as Anthropic's."""
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    name = _choice_name(choice)
    return {"type": "tool", "name": name} if name else choice


def anthropic_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The user/assistant/tool turns of ``messages`` as Anthropic's (system messages are left out:
    they go to the top-level ``system``). Consecutive tool replies share one user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": str(m.get("tool_call_id") or ""),
                "content": content_text(m.get("content")),
            }
            last = out[-1] if out else None
            if last and last["role"] == "user" and isinstance(last["content"], list) and last.get("_tools"):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block], "_tools": True})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            text = content_text(m.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for c in m["tool_calls"]:
                fn = c.get("function") or {}
                blocks.append(
                    {"type": "tool_use", "id": c.get("id"), "name": fn.get("name"), "input": _arguments(c)}
                )
            out.append({"role": "assistant", "content": blocks})
        elif role in ("user", "assistant"):
            out.append({"role": role, "content": m.get("content") or ""})
    for turn in out:
        turn.pop("_tools", None)
    return out


def from_anthropic_block(block: dict[str, Any]) -> dict[str, Any]:
    """A ``tool_use`` content block as an OpenAI tool call."""
    return openai_call(str(block.get("name", "")), block.get("input") or {}, block.get("id"))


# -- Gemini ----------------------------------------------------------------------------------------


def gemini_tools(tools: list[Any]) -> list[Any]:
    """OpenAI tool definitions as Gemini's (one ``functionDeclarations`` entry holding them all)."""
    declarations, other = [], []
    for t in tools:
        fn = _function(t)
        if fn is None:
            other.append(t)
            continue
        item = {k: fn[k] for k in ("name", "description", "parameters") if fn.get(k) is not None}
        declarations.append(item)
    return ([{"functionDeclarations": declarations}] if declarations else []) + other


def gemini_tool_config(choice: Any) -> Any:
    """OpenAI's ``tool_choice`` as Gemini's ``toolConfig``."""
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    name = _choice_name(choice)
    if name:
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return choice


def gemini_contents(messages: list[Message]) -> list[dict[str, Any]]:
    """The user/assistant/tool turns of ``messages`` as Gemini ``contents``. A tool reply becomes a
    ``functionResponse`` named after the call it answers (its content as the response object when it
    is a JSON object, else ``{"content": text}``)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"]
        if role == "tool":
            call_id = str(m.get("tool_call_id") or "")
            text = content_text(m.get("content"))
            try:
                response = json.loads(text)
            except ValueError:
                response = None
            if not isinstance(response, dict):
                response = {"content": text}
            name = names.get(call_id) or str(m.get("name") or "")
            if not name:
                raise ValueError(
                    f"tool message for {call_id!r}: no earlier tool call has that id (Gemini needs the name)"
                )
            part = {"functionResponse": {"name": name, "response": response}}
            last = out[-1] if out else None
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
        elif role == "assistant" and m.get("tool_calls"):
            parts: list[dict[str, Any]] = []
            text = content_text(m.get("content"))
            if text:
                parts.append({"text": text})
            for c in m["tool_calls"]:
                fn = c.get("function") or {}
                names[str(c.get("id"))] = str(fn.get("name"))
                parts.append({"functionCall": {"name": fn.get("name"), "args": _arguments(c)}})
            out.append({"role": "model", "parts": parts})
        elif role in ("user", "assistant"):
            out.append(
                {
                    "role": "model" if role == "assistant" else "user",
                    "parts": [{"text": content_text(m.get("content"))}],
                }
            )
    return out


def from_gemini_call(call: dict[str, Any]) -> dict[str, Any]:
    """A ``functionCall`` part's call as an OpenAI tool call (Gemini's own id kept when it sends one)."""
    return openai_call(str(call.get("name", "")), call.get("args") or {}, call.get("id"))

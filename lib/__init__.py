"""Llama Herd Studio's library: plain, typed Python the pages call; importable without a Streamlit server.

Grouped by capability, in layers; a module imports its own package and lower layers only (checked by
tests/test_architecture.py):

    answers        where an answer comes from: rehearsal → replay cache → live host; recordings, transcripts
    tool_calling   Llama's tool format and the tool loop        vision   photos, tasks, one vision answer
    client.py      the one module that speaks the SDK (azure-ai-inference) to a host
    hosts          where Llama runs: providers, settings, listing, errors, limits, budget   tools   the tools
    common         small helpers that import nothing of ours (redaction, untrusted JSON, safe text, ticking)

`lib/llama_prompt.py` and `lib/images.py` only re-export, for the library contract's paths in DESIGN.md.
"""

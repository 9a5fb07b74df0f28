"""Llama 3.1 calling tools: the prompt format and parser (`llama_prompt`), and the tool loop (`loop`).

`loop.run_turn` asks the model through a stream opener it is given (live, cached or rehearsed: it never knows
which), spots a native tool call, runs the tool from `lib.tools`, hands the result back and streams the answer.
Imports `lib.client`, `lib.hosts`, `lib.tools` and `lib.common`; never `lib.answers`, `lib.vision` or `ui`.
The tools themselves stay in `lib/tools/`, one module each.
"""

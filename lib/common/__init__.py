"""Small shared helpers every layer may use: they import nothing of ours (standard library, Pillow-free).

- `redact`: the one place secrets are blanked out of text shown, logged, exported or recorded;
- `safe_text`: model output and tool results shown as text, never HTML, never fetching remote images;
- `jsonfile`: reading a JSON file a person brought in without trusting it (bounded before parsing);
- `ticking`: progress from the first second (a slow iterator in a worker thread, ticks meanwhile), and Stop;
- `memory`: giving freed buffers back to the OS and keeping the collector off what lives forever;
- `session_store`: conversations that survive a reload, bounded, bound to the browser that made them;
- `replayed`: the footers' words for an answer replayed from a rehearsal or the cache, or shared in flight;
- `shared_state`: the one Redis link (`REDIS_URL`) through which several processes share the cap, quota counts,
  caches and conversations, falling back to the process's memory (with a warning) while Redis is unreachable.
"""

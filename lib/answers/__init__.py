"""Where an answer comes from, as one pipeline with one order, and what is kept of it.

A page's stream opener asks, in this order: the presenter's rehearsal (`rehearsal`, replayed at the recorded
pace), then the server-wide replay cache (`cache`, identical requests within 15 minutes), then the live host
(`lib.client`). `recording` is the store both replay from (fingerprints, bounded memory, files); `pacing` how a
streamed answer is redrawn; `transcript` exports and imports whole conversations of either page.

Imports everything below it in `lib` (common, hosts, tools, client, tool_calling, vision); never `ui`.
A new cache layer is a `cache.Dedupe`-like class here, chained in `rehearsal.Rehearsal.opener`.
"""

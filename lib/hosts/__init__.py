"""Where Llama runs, as data and rules: everything about a host except speaking to it (that is `lib/client.py`).

- `providers`: the provider table and the Llama families, with the date they were checked;
- `config`: `Settings`, resolved from secrets > environment; `endpoint_guard`: where a visitor may point the server;
- `catalog`: reading a host's model listing; `errors`: any failure as a sentence a person understands;
- `limits`: the concurrency cap, the quota windows and 429 kinds; `budget`: fitting a request to the context;
- `view_code`: the Python that reproduces a request with azure-ai-inference ("View code").

Imports `lib.common` only (and its own modules): adding a host is a row in `providers.PROVIDERS`, not code elsewhere.
"""

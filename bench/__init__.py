"""Benchmarks for Llama Herd Studio. Run all of them from the repo root with ``python -m bench.run_all``.

Every benchmark reports ratios measured inside one run (medians of interleaved repetitions): this is meant for a
noisy shared machine, where absolute times mean little. Nothing here is a test and nothing asserts on time.
"""

"""Tools for running and operating the assistant: run, train, Rasa's command line, retention,
benchmarks, load and latency, process helpers. They may import the runtime; the runtime never
imports them."""

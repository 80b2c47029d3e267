"""The process harness: real processes for tests, benchmarks, the showcase and the load run.

`service.Service` owns one process (its own process group), its log file and the one stop
routine; `core`, `agents`, `jaeger` and `postgres` start the project's processes with it, and
`k6` runs the load test the same way.
"""

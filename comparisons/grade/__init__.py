"""``lockstep grade``: check a class of submissions at once, each isolated, on Dask distributed.

discover (find the submissions) -> checks (what to run on each) -> engine (Dask: one task per
submission) -> sandbox (on the worker: one forked child per submission) -> results (per
submission, written as each finishes) -> report (class.csv, class.md, class.html); command wires
the CLI. docs/grade.md says why Dask, and what the isolation is not.
"""

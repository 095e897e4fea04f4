"""What containment costs (docs/robustness.md): the heartbeat, per update and per lockstep step, and
the parent process, per run.

    python -m benchmarks.containment [--quick]

1. One heartbeat update (``calling``, ``at``) into the shared map, median of 7 x 100k calls.
2. A lockstep step (Lockstep.train_step, default config: 784-1000-10, minibatch 100, float32, built-in
   data) with the worker's shared heartbeat against the in-memory one a library call uses,
   in alternating blocks (benchmarks/timing.py); the same for a bring-your-own class
   (examples/student_adapter.py), whose every call also updates the heartbeat.
3. ``lockstep run`` of a tiny config (6 steps) contained (parent + worker) against the same work in
   one process (what ``lockstep run`` did before containment), alternating, medians.
"""
import comparisons  # noqa: F401  -- first: thread settings before NumPy and torch load

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.timing import interleaved
from comparisons import heartbeat
from comparisons.config import Config
from comparisons.data import load_data
from comparisons.lockstep import Lockstep, batches
from comparisons.record.recorder import Recorder

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "8", "--epochs", "1", "--batch-size", "1000", "--quiet"]
IN_ONE_PROCESS = """
import sys
from comparisons.cli.main import build_parser, run_command
from comparisons.record.outdir import OutDir
args = build_parser().parse_args(sys.argv[1:])
out = OutDir.open(args.out, args.overwrite)
try:
    code = run_command(args, out)
    out.commit()
finally:
    out.release()
sys.exit(code)
"""


def update_cost() -> dict[str, float]:
    fd, _ = heartbeat.create()
    beat = heartbeat.Heartbeat(__import__("mmap").mmap(fd, heartbeat.SIZE))
    n, out = 100_000, {}
    for name, fn in (("calling", lambda: beat.calling("backward()")), ("at", lambda: beat.at("step", 4, 1))):
        runs = []
        for _ in range(7):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            runs.append((time.perf_counter() - t0) / n)
        out[name] = statistics.median(runs)
    os.close(fd)
    return out


def step_cost(config: Config, scale: float) -> tuple[float, float, int]:
    """(median step seconds with the shared heartbeat, with the in-memory one, updates per step)."""
    data = load_data("builtin").astype(np.dtype(config.dtype))
    fd, _ = heartbeat.create()
    shared = heartbeat.Heartbeat(__import__("mmap").mmap(fd, heartbeat.SIZE))
    memory = heartbeat.Heartbeat()
    with tempfile.TemporaryDirectory() as tmp, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lock = Lockstep(config, data)
        lock.recorder = Recorder(Path(tmp))
        batches = [(data.train.x[i], data.train.y[i]) for i in batches(len(data.train.y), config.batch_size,
                                                                       np.random.default_rng(0))]
        turn = [0]

        def step(beat):
            def one():
                heartbeat.current = beat
                x, y = batches[turn[0] % len(batches)]
                turn[0] += 1
                lock.train_step(1, x, y)
            return one

        before = shared.progress, _count(shared)
        samples = interleaved({"shared": step(shared), "in memory": step(memory)},
                              blocks=max(3, round(8 * scale)), reps=10)
        updates = (_count(shared) - before[1]) / max(1, shared.progress - before[0])
        lock.recorder.close()
    os.close(fd)
    heartbeat.current = heartbeat.Heartbeat()
    return samples["shared"].median, samples["in memory"].median, round(updates)


def _count(beat) -> int:
    """Updates made so far: counted by wrapping _publish once."""
    if not hasattr(beat, "_counted"):
        beat._counted, publish = [0], beat._publish

        def counting():
            beat._counted[0] += 1
            publish()
        beat._publish = counting
    return beat._counted[0]


def process_cost(rounds: int) -> dict[str, float]:
    """Medians, in seconds: a contained ``lockstep run`` and the same work in one process (alternating),
    and the parent's own parts: its start-up to the worker's spawn (a Python importing what the
    parent imports) and its judging of the record once the worker has exited (comparisons.record.rundir)."""
    from comparisons.record.rundir import load_run
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = {"contained": [], "one process": [], "parent start-up": [], "judging": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for name, cmd in (("contained", [sys.executable, "-m", "comparisons.cli", "run"]),
                              ("one process", [sys.executable, "-c", IN_ONE_PROCESS, "run"])):
                t0 = time.perf_counter()
                subprocess.run([*cmd, "--out", f"{tmp}/{name}", "--overwrite", *TINY], env=env, cwd=ROOT, check=True)
                times[name].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import comparisons.cli.main, comparisons.cli.parent"], env=env,
                           cwd=ROOT, check=True)
            times["parent start-up"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            load_run(f"{tmp}/contained")
            times["judging"].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    cost = update_cost()
    print(f"heartbeat update: calling {cost['calling'] * 1e6:.2f} us, at {cost['at'] * 1e6:.2f} us (median of 7 x 100k)")
    os.chdir(ROOT)
    for label, config in (("built-in manual side", Config()),
                          ("bring-your-own (examples/student_adapter.py)",
                           Config(manual="examples/student_adapter.py:Adapter"))):
        shared, memory, updates = step_cost(config, 0.4 if quick else 1.0)
        print(f"lockstep step, {label}: {shared * 1e3:.3f} ms with the shared heartbeat, {memory * 1e3:.3f} ms "
              f"in memory: ratio {shared / memory:.3f}; {updates} updates per step "
              f"(~{updates * cost['calling'] * 1e6:.1f} us)")
    t = process_cost(3 if quick else 7)
    print(f"lockstep run, 6 steps: {t['contained']:.2f} s contained, {t['one process']:.2f} s in one process "
          f"(difference {t['contained'] - t['one process']:+.2f} s); the parent's own parts: start-up "
          f"{t['parent start-up']:.2f} s, judging the record {t['judging'] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()

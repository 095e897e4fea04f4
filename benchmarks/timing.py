"""Timing on a shared machine: interleaved blocks, warm-up, medians, and a load monitor.

Each workload runs in blocks of a few repetitions; the blocks of the workloads
being compared alternate (A B C A B C ...), so slow drifts of the machine
affect all of them alike. The first repetition of a block is a warm-up (it
pays for switching from the other workload: caches, idle BLAS threads) and is
not kept. Every block also records how much CPU *other* processes used while
it ran (from /proc/stat, minus this process's own CPU time): blocks during
which others used more than ``busy_cores`` of a core are set aside, and the
figures are medians over the quiet ones, as long as enough are quiet.
"""
import os
import statistics
import time
from dataclasses import dataclass, field

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _busy_seconds() -> float | None:
    """CPU seconds spent busy by the whole machine since boot (None off Linux)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)      # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


class LoadProbe:
    """Cores' worth of CPU used by other processes between ``start`` and ``stop``."""

    def start(self) -> None:
        self._busy, self._own, self._wall = _busy_seconds(), time.process_time(), time.perf_counter()

    def stop(self) -> float:
        busy, own, wall = _busy_seconds(), time.process_time(), time.perf_counter()
        if busy is None or self._busy is None:
            return 0.0
        return max(0.0, (busy - self._busy) - (own - self._own)) / max(wall - self._wall, 1e-9)


@dataclass
class Samples:
    """Per repetition a dict of seconds ("wall": the whole call, plus whatever parts the
    workload reported), kept per block with the other processes' load during the block."""
    name: str
    blocks: list[tuple[list[dict], float]] = field(default_factory=list)
    busy_cores: float = 0.15
    min_quiet: int = 3

    def add_block(self, reps: list[dict], other_load: float) -> None:
        self.blocks.append((reps, other_load))

    @property
    def quiet_blocks(self) -> list[list[dict]]:
        return [reps for reps, load in self.blocks if load <= self.busy_cores]

    @property
    def used_all_blocks(self) -> bool:
        """True when too few blocks were quiet, so the figures include the noisy ones."""
        return len(self.quiet_blocks) < self.min_quiet

    def kept(self, part: str = "wall") -> list[float]:
        """``part`` of every repetition of the quiet blocks (of all blocks if too few were quiet)."""
        chosen = [reps for reps, _ in self.blocks] if self.used_all_blocks else self.quiet_blocks
        return [rep[part] for reps in chosen for rep in reps]

    def median_of(self, part: str) -> float:
        return statistics.median(self.kept(part))

    @property
    def median(self) -> float:
        return self.median_of("wall")

    def spread(self, part: str = "wall") -> tuple[float, float]:
        """(first quartile, third quartile) of the kept repetitions."""
        kept = sorted(self.kept(part))
        if len(kept) < 4:
            return kept[0], kept[-1]
        q = statistics.quantiles(kept, n=4)
        return q[0], q[2]

    @property
    def other_load(self) -> float:
        """Median load of other processes over all blocks (cores)."""
        return statistics.median(load for _, load in self.blocks) if self.blocks else 0.0

    def describe(self, part: str = "wall") -> str:
        q1, q3 = self.spread(part)
        return (f"{self.name}: median {self.median_of(part) * 1e3:.2f} ms (IQR {q1 * 1e3:.2f}-{q3 * 1e3:.2f}), "
                f"{len(self.kept(part))} reps, {len(self.quiet_blocks)}/{len(self.blocks)} quiet blocks")


def interleaved(workloads: dict, blocks: int, reps: int, warmup_blocks: int = 1,
                extra_blocks: int = 0, busy_cores: float = 0.15, min_quiet: int = 3) -> dict[str, Samples]:
    """Time each callable in ``workloads`` in alternating blocks of ``reps`` + 1 calls.

    A workload may return a dict of named parts of its time (seconds), kept beside
    "wall". The first call of every block is not kept, nor the first
    ``warmup_blocks`` rounds. Runs ``blocks`` rounds, and up to ``extra_blocks``
    more while fewer than ``min_quiet`` rounds were quiet for some workload.
    """
    samples = {name: Samples(name, busy_cores=busy_cores, min_quiet=min_quiet) for name in workloads}
    probe = LoadProbe()
    for round_ in range(warmup_blocks + blocks + extra_blocks):
        for name, fn in workloads.items():
            probe.start()
            kept = []
            for i in range(reps + 1):
                t0 = time.perf_counter()
                parts = fn()
                wall = time.perf_counter() - t0
                if i:
                    kept.append({"wall": wall, **(parts if isinstance(parts, dict) else {})})
            load = probe.stop()
            if round_ >= warmup_blocks:
                samples[name].add_block(kept, load)
        done = round_ + 1 - warmup_blocks
        if done >= blocks and all(len(s.quiet_blocks) >= min(min_quiet, blocks) for s in samples.values()):
            break
    return samples

"""The course's one adapter for its starter code: it serves every submission of the class.

``lockstep grade`` puts each submission's folder first on sys.path, so ``from starter import
Network`` imports that student's starter.py. The starter's interface is the one of
examples/student_mlp.py (weights (in, out), biases (1, n), one-hot labels, mean cross-entropy,
momentum v <- gamma v + lr g, W <- W - v), so this adapter is examples/student_adapter.py's with the
starter's constructor; a course writes its own the same way (comparisons/sides/byo.py).

    lockstep grade runs/class --adapter examples/grade_class/course_adapter.py:Adapter \\
        --checks examples/grade_class/checks.toml --out runs/graded
"""
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))   # examples/, after the submission's folder
from student_adapter import Adapter as StudentAdapter        # noqa: E402
from starter import Network                                  # noqa: E402 - this submission's starter.py


class Adapter(StudentAdapter):
    def __init__(self, sizes, config):
        self.net = Network(*sizes, lr=config.lr, momentum=config.momentum, v0=config.init_velocity,
                           dtype=config.dtype)

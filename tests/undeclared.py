"""The cs231n example's adapter with one convention declaration left out (tests/test_byo.py)."""
from comparisons.sides.byo import load_class

Adapter = load_class("examples/cs231n/adapter.py:Adapter")


class NoBnMomentum(Adapter):
    model = Adapter.model.replace("batchnorm", "batchnorm:0.9")   # cs231n's number, written out
    bn_momentum = None          # ... read as torch's 0.9 on the new batch (cs231n: on the old value)


class NoBiasedVar(Adapter):
    bn_running_var = None       # np.var's running_var compared with torch's unbiased one

"""Deciding: how far apart two tensors are (metrics, the compiled walk) and whether a row passes (the pass rule)."""

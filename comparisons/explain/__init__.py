"""Explaining: the float64 referee, the diagnosis of a failed step, and the audit of hand derivations."""

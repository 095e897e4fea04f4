"""Recording: steps.csv as the run goes, summary.json at its end, and a run directory read back."""

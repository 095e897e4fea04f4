"""Reporting: the HTML/Markdown report of a run, its figures, and the regression comparison of two runs."""

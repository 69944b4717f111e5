"""Experiment plans: proposals turned into a runnable plan with a results template."""

"""The active-learning loop: per-shot errors, simulated campaigns against virtual labs, baselines and the BayBE adapter."""

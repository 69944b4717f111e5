"""The capacity model: feature encoding, the LightGBM ensemble and failure classifier, model comparison, compiled inference."""

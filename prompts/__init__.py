"""Prompt templates as files, loaded with importlib.resources."""

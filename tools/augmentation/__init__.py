"""Tabular augmentation with SDV under the design space's rules, with quality and utility reports."""

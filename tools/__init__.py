"""Typed, LLM-free library code behind the assistant's tools.

Modules here never import LangChain, never read environment variables and never print;
heavy libraries (torch, sdv, chromadb, pymatgen) are imported lazily inside functions.
"""

"""How results look to people: one module per result type, one renderer per medium.

Markdown is for the chat (offline answers, LLM tool results, the UI's messages), rich tables
for the terminal, pandas frames for the UI's tables and CSV downloads. Renderers only format:
every number comes from the result they are given. They live in the assistant layer, not
beside the result models in `tools/`, so library code stays free of presentation libraries.
"""

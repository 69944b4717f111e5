"""The assistant layer: settings, CLI, LLM backends, router and tool registry. Only this layer knows about LLMs."""

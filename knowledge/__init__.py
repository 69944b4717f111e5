"""Knowledge base: design spaces, domain rules, literature notes, demo records (data, not code)."""

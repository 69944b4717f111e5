"""Crystal structures: CIF parsing and checks, structure-family rules, the CHGNet physical check, repair prompts."""

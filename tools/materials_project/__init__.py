"""The Materials Project through mp-api: typed queries, results, the offline cache and a plain-language query parser."""

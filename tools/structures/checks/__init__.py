"""The CIF checks after parsing, one module per theme; each check is a function of one CheckContext."""

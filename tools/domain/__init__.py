"""Domain objects every capability shares: the design space, experiment records, typed errors, file I/O."""

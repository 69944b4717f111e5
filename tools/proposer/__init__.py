"""The proposer: a particle swarm over the design space that picks the next batch of experiments."""

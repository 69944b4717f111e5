"""The experiment store and the bias profile of a record."""

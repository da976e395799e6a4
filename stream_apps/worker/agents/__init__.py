"""Faust agents: thin loops that decode, call the engine, and write a table or topic."""

"""The `virta` command: wires the engine, the API and the workers together."""

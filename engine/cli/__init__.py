"""engine/cli."""

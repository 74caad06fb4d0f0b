"""Commands: every write the product makes, each one unit of work through the command pipeline."""

"""The demo district and the simulator that drives events through the loop as its staff would."""

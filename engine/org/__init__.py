"""The organisation: its tree of units and departments, the staff and their roles, scope, and sign-in."""

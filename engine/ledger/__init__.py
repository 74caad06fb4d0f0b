"""The grid's household ledger (人房台账): buildings, their dwellings and the people living there."""

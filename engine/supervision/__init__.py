"""Supervision (督办): the rules of sheets and cards — what is overdue, when a sheet escalates, when it clears."""

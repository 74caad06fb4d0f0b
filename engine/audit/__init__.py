"""The audit: the append-only, chained history every command writes and the admin log, each record authenticated
with a key kept outside the database (keys), signed checkpoints of every chain written outside it
(checkpoints), and the verification (the keyed chains, the checkpoints' claims, exact replay through the
stored checkpoint, counted facts, the rows that mirror the history).
"""

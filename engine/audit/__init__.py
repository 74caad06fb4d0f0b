"""The audit: the append-only, hash-chained history every command writes, and its verification (chain check,
exact replay through the stored checkpoint, counted facts).
"""

"""Notices: what the command pipeline's happenings mean to whom, and how they leave the building.

:mod:`engine.notices.derive` turns what one command did — the inbox rows it created and the history records it
wrote — into notice rows, one per recipient, in the command's own transaction; :mod:`engine.notices.outbox`
writes an outbox row per configured channel for each and delivers them, with retries, through the channel
adapters (:mod:`engine.notices.webhook`). Reading and marking them read are :mod:`engine.reads.notices` and
:mod:`engine.commands.notices`.
"""

"""Read models: what each page and API list shows, scoped to the actor, with no HTTP and no templates.

Each takes a :class:`~engine.reads.reader.Reader` — the request's one read session, the actor loaded once, the
engine's caches — and reads nothing any other way: ``inbox`` (the inbox), ``events`` (the events list and the
event page), ``tasks`` (the task page), ``report`` (the report form), ``audit_view`` (the audit page and the
history export), ``boards`` (supervision and evaluation), ``processes`` (versions and diagrams), ``admin``
(settings and holidays), ``overview`` (the start page); ``queries`` holds the scoped queries they share,
``labels`` and ``lights`` what rows show beside their codes.
"""

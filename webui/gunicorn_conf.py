"""gunicorn's settings for production: ``gunicorn -c python:webui.gunicorn_conf -w 4 'webui:create_app()'``.

Logging only: gunicorn's own error log and every logger of the app go to standard error in the format of
``GRIDLOOP_LOG_FORMAT`` (``json`` in production: one JSON object a line, see :mod:`webui.logs`). gunicorn's
access log stays off, since the app's ``gridloop.access`` line is the access log (with the request id, the
user and the duration). Workers, the address and timeouts are given on the command line (``-w``, ``-b``), as
gunicorn documents them.
"""

from webui import logs

logconfig_dict = logs.dict_config()

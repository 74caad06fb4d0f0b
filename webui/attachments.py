"""Attachments: photos and documents by their unguessable id, for signed-in staff."""

from __future__ import annotations

import io

from flask import Blueprint, Response, send_file

from webui.context import gridloop, username

bp = Blueprint("attachments", __name__)


@bp.get("/attachments/<attachment_id>")
def show(attachment_id: str) -> Response:
    """The stored bytes with their checked content type (never the type the uploader claimed)."""
    stored, content = gridloop().attachment(username(), attachment_id)
    response = send_file(
        io.BytesIO(content), mimetype=stored.content_type, download_name=stored.filename, max_age=86400
    )
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response

"""The status page through Flask's test client, on a real SQLite file."""

from pathlib import Path

from engine.demo.district import create_demo_district
from engine.org import people
from webui import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_status_page_shows_deployed_version_and_event_counts(tmp_path):
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path}/web.sqlite3", "SECRET_KEY": "test", "TESTING": True}
    )
    gl = app.extensions["gridloop"]
    gl.init_schema()
    with gl.db.unit_of_work() as session:
        create_demo_district(session, password=None)
        people.add_user(session, "admin", password="status-page")
    deployment = gl.deploy(ROOT, activate=True)[0]
    gl.report("gw_hb1", {"category": "0101", "description": "路边有暴露垃圾一堆"})
    client = app.test_client()
    assert client.get("/").status_code == 302  # the page needs a signed-in user
    signed_in = app.extensions["gridloop"].sign_in("admin", "status-page")
    with client.session_transaction() as session:
        session["user"], session["sid"] = "admin", signed_in.token_id

    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "待受理" in html and deployment.content_hash[:12] in html

    # signed out, the health check says only that the service and its database are up
    health = app.test_client().get("/healthz").get_json()
    assert health == {"status": "ok", "database": "up"}


def test_the_instance_secret_key_is_made_once_and_readable_only_by_its_owner(tmp_path):
    from webui import instance_secret_key

    path = tmp_path / "instance" / "secret_key"
    first = instance_secret_key(path)
    assert len(first) == 64 and instance_secret_key(path) == first
    assert path.stat().st_mode & 0o777 == 0o600

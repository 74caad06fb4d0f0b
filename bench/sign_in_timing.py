"""Sign-in timing: does a wrong password take as long for an unknown account as for a known one?

Builds a SQLite file with the demo district (one account with a password), then times wrong sign-ins, each from an
address of its own so that no throttle answers early: for the known account, for an unknown username and for an
account without a password. Prints each median in milliseconds and its ratio to the known account's, measured
in the same run (1.0 means that the answer's time tells nothing about whether the account exists).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.app import Gridloop  # noqa: E402
from engine.demo.district import create_demo_district  # noqa: E402
from engine.org import people  # noqa: E402
from engine.org.auth import AuthenticationFailed  # noqa: E402


def attempt(gl: Gridloop, username: str, address: str) -> float:
    """The milliseconds one wrong sign-in as ``username`` from ``address`` takes."""
    started = time.perf_counter()
    with contextlib.suppress(AuthenticationFailed):
        gl.sign_in(username, "not the password", address=address)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        gl = Gridloop(f"sqlite:///{folder}/timing.sqlite3")
        gl.init_schema()
        with gl.db.unit_of_work() as session:
            create_demo_district(session, password=None)
            people.add_user(session, "intake", password="the right password")
        gl.sign_in("intake", "the right password")  # warm up
        accounts = {"known": "intake", "unknown": "nobody-by-this-name", "no_password": "gw_hb2"}
        samples: dict[str, list[float]] = {name: [] for name in accounts}
        for n in range(
            args.rounds
        ):  # interleaved, in turn order, so that the machine's drift touches all alike
            names = list(accounts)[n % 3 :] + list(accounts)[: n % 3]
            for name in names:
                samples[name].append(attempt(gl, accounts[name], f"{name}-{n}"))
        gl.db.dispose()
    known = statistics.median(samples["known"])
    report: dict[str, float] = {f"{name}_ms": round(statistics.median(v), 2) for name, v in samples.items()}
    report |= {
        f"{name}_ratio": round(statistics.median(v) / known, 3)
        for name, v in samples.items()
        if name != "known"
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()

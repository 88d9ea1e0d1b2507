"""localstripe as a real process a test may SIGKILL and start again, with the slow proxy in front.

``tests/stripe/conftest.py``'s ``LocalStripe`` runs the server; here it is started in a session of its
own and registered in ``STARTED`` (killed when the test ends, pass or fail), and ``kill()`` is a SIGKILL:
what survives is what localstripe had written to its state file (it dumps after every write), and its
webhook endpoints (kept in memory) are gone until registered again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.integration.workers import ROOT, STARTED, stop
from tests.stripe.conftest import LocalStripe


class OwnStripe(LocalStripe):
    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.stripe.localstripe_app", str(self.port), str(self.state)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
        STARTED.append(self.process)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.get("/_test/requests")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("localstripe did not start")

    def kill(self) -> None:
        assert self.process is not None
        stop(self.process, signal.SIGKILL)
        self.process = None

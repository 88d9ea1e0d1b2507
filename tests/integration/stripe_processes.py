"""localstripe as a real process a test SIGKILLs and starts again (``tests/stripe/conftest.py`` runs it).

``kill()`` is a SIGKILL: what survives is what localstripe had written to its state file (it dumps after
every write), and its webhook endpoints (kept in memory) are gone until registered again. The test stops
it in a ``finally`` (``stop()``), pass or fail.
"""

from __future__ import annotations

import os
import signal

from tests.stripe.conftest import LocalStripe


class OwnStripe(LocalStripe):
    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

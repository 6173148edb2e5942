"""What every throwaway server process of tests and `./dev up` shares (NATS, the object
store): whether it runs, stop, restart on the same ports and data, and `with`."""

from __future__ import annotations

import subprocess
from types import TracebackType
from typing import Self

from devtools.procs import stop


class LocalServer:
    """A subclass starts its process in `start` and keeps it in `_proc`."""

    _proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        if self._proc is not None:
            stop(self._proc)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same ports with the same data."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

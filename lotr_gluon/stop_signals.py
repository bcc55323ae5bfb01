"""Ctrl-C and SIGTERM as a request to stop a long job between two of its items.

A batch job (a folder of photos) that dies inside an item may leave that item half written;
one that stops between items leaves every finished one on disk and can say how far it got.
"""
from __future__ import annotations

import signal
from types import FrameType
from typing import Dict, Optional, Sequence

NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class StopSignals:
    """While entered, SIGINT and SIGTERM ask the job to stop instead of ending the process.

    The job calls :meth:`requested` between items and ends cleanly when it says so. The first
    signal puts the previous handlers back, so a second one acts at once, as it would
    without this (Ctrl-C raises ``KeyboardInterrupt``, SIGTERM ends the process). Enter it in
    the main thread, where Python runs signal handlers.

    Attributes
    ----------
    signal : int or None
        The signal that asked to stop, None until one did.
    """

    def __init__(self, signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)):
        self.signals = tuple(signals)
        self.signal: Optional[int] = None
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        for number in self.signals:
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, number: int, frame: Optional[FrameType]) -> None:
        self.signal = number
        self._restore()

    def requested(self) -> bool:
        """Whether a signal asked the job to stop."""
        return self.signal is not None

    @property
    def name(self) -> str:
        """``Ctrl-C`` or ``SIGTERM`` (the signal's name for any other), empty before one."""
        if self.signal is None:
            return ""
        return NAMES.get(self.signal, signal.Signals(self.signal).name)

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal (128 + its number), 0 before
        one."""
        return 128 + self.signal if self.signal is not None else 0

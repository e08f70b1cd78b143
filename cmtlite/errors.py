"""Every exception cmtlite raises on purpose.

The CLI turns a :class:`CmtliteError` into one ``error: ...`` line and exit code 2.
"""

from __future__ import annotations


class CmtliteError(Exception):
    """Base class: a problem with the user's input, options or environment."""


class ConfigError(CmtliteError):
    """An option or configuration value is out of range."""


class VideoReadError(CmtliteError):
    """A video cannot be opened or decoded, or holds no frames."""


class OutputError(CmtliteError):
    """An output path cannot be written (exists, missing folder, read-only)."""


class MidiReadError(CmtliteError):
    """A MIDI file cannot be read."""


class TokenGrammarError(CmtliteError):
    """A token file or token value is malformed."""


class TimeBudgetError(CmtliteError):
    """A stage ran past its time budget (proportional to the video's length)."""

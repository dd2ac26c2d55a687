"""mailgate: turn incoming email into helpdesk tickets, with rules kept as code."""

__version__ = "0.1.0"

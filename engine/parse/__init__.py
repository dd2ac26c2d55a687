"""Parse: raw bytes into one frozen Message (MIME, charsets, auto-generated kinds, bounces, TNEF, reply cutting)."""

from engine.parse.parser import parse, unreadable_message

__all__ = ["parse", "unreadable_message"]

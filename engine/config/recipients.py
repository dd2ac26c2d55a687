"""How a filters.never_send_to string reads (F-OUT-8): comma-separated addresses, @domains and texts."""

from __future__ import annotations


def recipient_pieces(entry: str) -> list[str]:
    """The comma-separated parts of a never_send_to string (seed 004 lists addresses so), trimmed."""
    return [piece.strip() for piece in entry.split(",")]


def recipient_match(piece: str) -> str:
    """`@example.com` is a domain, `name@example.com` an address, anything else a partial match."""
    return "domain" if piece.startswith("@") else "full" if "@" in piece else "partial"

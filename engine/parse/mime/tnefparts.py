"""Replace TNEF (winmail.dat) parts by the attachments and body they carry (F-ATT-3)."""

from __future__ import annotations

from engine.parse.mime.bodies import Bodies, RawAttachment


def is_tnef(item: RawAttachment) -> bool:
    """True for an application/ms-tnef part or a file called winmail.dat."""
    return item.content_type in ("application/ms-tnef", "application/vnd.ms-tnef") or (
        item.filename.lower() == "winmail.dat"
    )


def unpack_into(found: Bodies) -> None:
    """Unpack every TNEF attachment of `found` in place; failures keep the file."""
    if not any(is_tnef(item) for item in found.attachments):
        return
    from engine.parse.tnef import unpack
    kept: list[RawAttachment] = []
    for item in found.attachments:
        if not is_tnef(item):
            kept.append(item)
            continue
        try:
            content = unpack(item.data)
        except Exception as err:  # a broken winmail.dat stays an attachment
            found.defects.append(f"unreadable TNEF {item.filename}: {type(err).__name__}")
            kept.append(item)
            continue
        found.defects += [f"TNEF {item.filename}: {d}" for d in content.defects]
        if not content.attachments and content.defects and not (content.text or content.html):
            kept.append(item)  # nothing readable inside: keep the original file, never lose it
            continue
        kept += [_raw(att) for att in content.attachments]
        if not found.plain and not found.html:
            if content.text:
                found.plain.append(content.text)
            if content.html:
                found.html.append(content.html)
    found.attachments = kept


def _raw(att) -> RawAttachment:
    return RawAttachment(
        filename=att.filename,
        content_type=att.content_type,
        data=att.data,
        inline=att.inline,
        content_id=att.content_id,
    )

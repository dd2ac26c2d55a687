"""MIME helpers behind parse(): charsets, header values, body parts, HTML."""

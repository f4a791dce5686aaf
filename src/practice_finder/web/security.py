"""Security headers of every response: no sniffing, no framing, no referrer, and a Content-Security-Policy
for HTML that allows only this service's own scripts, styles, images and fonts."""

from __future__ import annotations

# Pages may load scripts, styles, images and fonts from this service only; nothing may frame them.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI sets style attributes on the elements it draws.
DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def security_headers(path: str, content_type: bytes) -> list[tuple[bytes, bytes]]:
    """The headers added to a response of `path` with this content type."""
    if not content_type.startswith(b"text/html"):
        return list(ALWAYS)
    policy = DOCS_POLICY if path.startswith("/schema") else PAGE_POLICY
    return [*ALWAYS, (b"content-security-policy", policy.encode())]

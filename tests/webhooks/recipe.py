"""The receiver's verification recipe, exactly as the README's "Webhooks" section gives it."""

# --- README snippet (keep identical) ---
import hashlib
import hmac
import time


def verify(secret: str, headers: dict, body: bytes, tolerance: int = 300) -> bool:
    timestamp = headers["X-CX-Webhook-Timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False  # too old (or from the future): a replay
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    given = [
        part.strip()[3:]
        for part in headers["X-CX-Webhook-Signature"].split(",")
        if part.strip().startswith("v1=")
    ]
    return any(hmac.compare_digest(expected, g) for g in given)


# --- end of README snippet ---

"""Plain helpers shared by the patients tests (fixtures: tests/patients/conftest.py)."""

from django_otp.oath import totp


def totp_code(device) -> str:
    """The code a TOTP device shows now, the device read afresh from the database."""
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"

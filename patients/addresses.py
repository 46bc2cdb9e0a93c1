"""E-mail addresses as the database compares them (pure; no Django).

PostgreSQL's case-insensitive match (`UPPER(a) = UPPER(b)`, Django's `iexact`) maps each letter to
its capital, and some non-ASCII letters have an ASCII capital: dotless ı → I, long ſ → S. Python's
`lower()` leaves those alone. So `sam@rıverside.example` and `sam@riverside.example` are one
address to the database but two to a key made with `lower()`: each look-alike got its own count
of log-in tries. `fold` puts every address the database would match on one key (and a few more
look-alikes, such as full-width letters and the Kelvin sign, which is harmless for a count)."""

import unicodedata


def _capital(char: str) -> str:
    """The one-letter capital of a letter, as the database maps it (a letter whose capital is
    several letters, like ß → SS, keeps itself, as PostgreSQL's per-letter mapping does)."""
    upper = char.upper()
    return upper if len(upper) == 1 else char


def fold(address: str) -> str:
    """The form two addresses share when they are the same, or look-alikes of the same, address."""
    text = unicodedata.normalize("NFKC", str(address).strip())
    return unicodedata.normalize("NFKC", "".join(_capital(char) for char in text).casefold())


def _compatible(address: str) -> str:
    return unicodedata.normalize("NFKC", str(address)).lower()


def same_address(stored: str, typed: str) -> bool:
    """Whether a typed address is the stored one, case aside. A compatibility form (ſ is s, a
    full-width ｓ is s: Django's log-in form makes the same change) is the address; a letter that
    only the database's capitals fold into ASCII (dotless ı → I) is not: a look-alike is not
    the address."""
    return _compatible(stored) == _compatible(typed)

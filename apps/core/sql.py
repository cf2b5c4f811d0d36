"""Small helpers for hand-written SQL."""

from collections.abc import Iterable


def bigint_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers, for `CAST(%s AS bigint[])`.

    psycopg adapts a Python list element by element (about 4 ms for 5000 ids, several times per
    scoring batch); one join does it in well under a millisecond. Only integers go in, so the
    literal needs no quoting.
    """
    return "{" + ",".join(map(str, map(int, values))) + "}"

"""Small helpers for the words on screen."""


def plural(n: int, word: str) -> str:
    """1 row, 2 rows: the operator reads counts all day."""
    return f"{n} {word}" + ("" if n == 1 else "s")

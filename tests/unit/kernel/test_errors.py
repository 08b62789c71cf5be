"""The shared LinuxError instances must not keep what they were raised through."""

from sentry.abi.linux.errors import LinuxError, err


def _fail(depth: int) -> None:
    if depth:
        _fail(depth - 1)
    raise err(25)


def test_a_shared_error_holds_only_its_last_raise() -> None:
    for _ in range(1000):
        try:
            _fail(3)
        except LinuxError:
            pass
    e = err(25)
    assert e.__traceback__ is None and e.__context__ is None
    try:
        _fail(3)
    except LinuxError as ex:
        tb, n = ex.__traceback__, 0
        while tb is not None:
            n, tb = n + 1, tb.tb_next
    assert n == 5  # this frame and _fail x4, not a chain of every raise so far


def test_context_is_not_kept() -> None:
    try:
        try:
            raise KeyError("x")
        except KeyError:
            raise err(2)  # noqa: B904 -- the implicit context is what is tested
    except LinuxError:
        pass
    assert err(2).__context__ is None

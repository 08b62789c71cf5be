"""runsc_py.jsonc against json: the same text out, the same values and errors in."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from runsc_py import jsonc

_CHARS = "az\"\\/\b\f\n\r\t\x00\x1f\x7f é€😀\u2028\ud800"


def _string(rnd: random.Random) -> str:
    return "".join(rnd.choice(_CHARS) for _ in range(rnd.randrange(0, 8)))


def _value(rnd: random.Random, depth: int = 0) -> object:
    kind = rnd.randrange(10 if depth < 4 else 7)
    if kind == 0:
        return _string(rnd)
    if kind == 1:
        return rnd.choice([0, 1, -1, 2**63, -(2**70), 12345678901234567890123])
    if kind == 2:
        return rnd.choice([0.0, -0.0, 1.5, 1e308, 5e-324, 1 / 3, math.inf, -math.inf, math.nan])
    if kind in (3, 4, 5):
        return rnd.choice([True, False, None])
    if kind == 6:
        return rnd.choice([[], {}, ""])
    if kind == 7:
        return [_value(rnd, depth + 1) for _ in range(rnd.randrange(0, 4))]
    if kind == 8:
        return tuple(_value(rnd, depth + 1) for _ in range(rnd.randrange(0, 3)))
    keys = [_string(rnd), rnd.randrange(-5, 5), 2.5, True, None]
    return {rnd.choice(keys): _value(rnd, depth + 1) for _ in range(rnd.randrange(0, 5))}


def _same(a: object, b: object) -> bool:
    """Equal, NaN included."""
    return json.dumps(a) == json.dumps(b)


def test_dumps_and_loads_agree_with_json() -> None:
    rnd = random.Random(8)
    for _ in range(3000):
        v = _value(rnd)
        for ascii_only in (True, False):
            assert jsonc.dumps(v, ensure_ascii=ascii_only) == json.dumps(
                v, ensure_ascii=ascii_only)
            assert jsonc.dumps(v, indent=2, ensure_ascii=ascii_only) == json.dumps(
                v, indent=2, ensure_ascii=ascii_only)
        text = json.dumps(v, indent=rnd.choice([None, 2]))
        assert _same(jsonc.loads(text), json.loads(text))
        assert _same(jsonc.loads(text.encode()), json.loads(text.encode()))


def test_default_and_refusals() -> None:
    obj = {"a": object()}
    assert jsonc.dumps(obj, default=repr) == json.dumps(obj, default=repr)
    assert jsonc.dumps(obj, indent=2, default=repr) == json.dumps(obj, indent=2, default=repr)
    for indent in (None, 2):
        with pytest.raises(TypeError) as mine:
            jsonc.dumps(obj, indent=indent)
        with pytest.raises(TypeError) as theirs:
            json.dumps(obj, indent=indent)
        assert str(mine.value) == str(theirs.value)
        loop: list = []
        loop.append(loop)
        with pytest.raises(ValueError):
            jsonc.dumps(loop, indent=indent)


@pytest.mark.parametrize("text", [
    "", "   ", "{", "[1,]", "{\"a\" 1}", "nul", "01", "1 2", "[1] x", "\ufeff{}",
    "\"a\u0001b\"", "\"\\x\"", "{\"a\":1,}", "  [1, 2, 3]  \n", "\n-Infinity", "[NaN]",
])
def test_errors_and_edges_as_json(text: str) -> None:
    try:
        want: object = json.loads(text)
    except json.JSONDecodeError as e:
        with pytest.raises(json.JSONDecodeError) as got:
            jsonc.loads(text)
        assert (str(got.value), got.value.pos) == (str(e), e.pos)
    else:
        assert _same(jsonc.loads(text), want)


def test_imports_neither_json_nor_re() -> None:
    code = ("import sys; from runsc_py import jsonc; "
            "jsonc.loads(jsonc.dumps({'a': [1, 2.5, None]}, indent=2)); "
            "print(sorted({'json', 're'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                         check=True, timeout=60, cwd=str(__import__("pathlib").Path(
                             jsonc.__file__).parents[1]))
    assert out.stdout.strip() == "[]"

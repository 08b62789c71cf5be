"""tmpfs reports sizes and blocks as Linux's tmpfs does (values taken from a host tmpfs):
regular files count whole pages, short symlinks live in the inode, directories have
BOGO_DIRENT_SIZE (20) per entry including "." and "..", and no blocks."""

from __future__ import annotations

from sentry.vfs import abi


def _st(env, path: bytes):
    return env.vfs.resolve(env.t, abi.AT_FDCWD, path, follow=False).dentry.inode.stat()


def test_tmpfs_sizes_and_blocks_match_linux(env):
    v, t = env.vfs, env.t
    v.mkdir_at(t, abi.AT_FDCWD, b"/tmp2/d", 0o755)
    d = v.open_at(t, abi.AT_FDCWD, b"/tmp2/f", abi.O_CREAT | abi.O_WRONLY, 0o644)
    d.write(t, b"data\n")
    d.decref()
    v.symlink_at(t, b"f", abi.AT_FDCWD, b"/tmp2/l")
    v.symlink_at(t, b"x" * 200, abi.AT_FDCWD, b"/tmp2/longl")
    got = {name: (_st(env, b"/tmp2/" + name).size, _st(env, b"/tmp2/" + name).blocks)
           for name in (b"f", b"d", b"l", b"longl")}
    root = _st(env, b"/tmp2")
    assert got == {b"f": (5, 8), b"d": (40, 0), b"l": (1, 0), b"longl": (200, 8)}
    assert (root.size, root.blocks) == (120, 0)

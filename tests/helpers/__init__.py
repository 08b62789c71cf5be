"""Shared helpers of the end-to-end suites (workloads, syscalls, security) and the benchmarks.

Everything here runs real processes: ``runner`` (the CLI and native references, with timeouts),
``bundle`` (busybox rootfs and OCI bundles, the chroot native reference), ``normalize``,
``procs`` (process-tree inspection), ``cbuild`` (compiling the C programs) and ``bpf`` (a classic
BPF interpreter for seccomp programs).
"""

"""runsc-py: a gVisor-style user-space kernel sandbox and OCI runtime in Python."""

import subprocess
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
# The stub is linked at a fixed high address, out of the way of workload images.
STUB_LINK = ["-nostdlib", "-static", "-no-pie", "-Wl,-Ttext-segment=0x7e0000000000",
             "-Wl,--build-id=none"]


class BuildWithStub(build_ext):
    """Build the cffi extension and the static stub (``sentry/stub.bin``)."""

    def run(self) -> None:
        super().run()
        outs = [HERE / "sentry" / "stub.bin"]
        if not self.inplace:
            outs.append(Path(self.build_lib) / "sentry" / "stub.bin")
        for out in outs:
            out.parent.mkdir(parents=True, exist_ok=True)
            subprocess.check_call(["cc", *STUB_LINK, "-o", str(out),
                                   str(HERE / "native" / "stub" / "stub.S")])


setup(
    name="runsc-py",
    version="0.1.0",
    description="A sandboxed user-space kernel runtime (OCI) in Python",
    packages=find_packages(include=["sentry*", "gofer*", "runsc_py*", "native*"]),
    package_data={"sentry": ["stub.bin"]},
    python_requires=">=3.11",
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "click>=8.0", "python-ptrace>=0.9.8", "pyseccomp>=0.1.2"],
    # grpcio/grpcio-tools/protobuf: the tests drive containerd's CRI plugin over gRPC as
    # kubelet does (crictl is not packaged for Debian 12).
    extras_require={
        "test": ["pytest>=7", "mypy", "ruff", "grpcio>=1.60", "grpcio-tools>=1.60", "protobuf>=4.25"]
    },
    cffi_modules=["native/sentry_native_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithStub},
    entry_points={"console_scripts": ["runsc-py = runsc_py.launch:entry"]},
    zip_safe=False,
)

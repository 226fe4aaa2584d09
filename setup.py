"""Builds the compiled transport core (netwatch/flows/_core.pyx, _flow.pyx) where Cython and a C compiler are
present; anywhere else netwatch installs without it and runs its pure-Python core (same results)."""

import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed compile is a one-line note, not a failed install."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # noqa: BLE001 - no compiler, no headers: the pure-Python core runs
            _note(e)

    def build_extension(self, ext) -> None:  # noqa: ANN001 - setuptools' Extension
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001
            _note(e)


def _note(e: Exception) -> None:
    print(f"netwatch: compiled core not built ({type(e).__name__}); the pure-Python core will run", file=sys.stderr)


def extensions() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("netwatch: Cython not available; the pure-Python core will run", file=sys.stderr)
        return []
    from setuptools import Extension

    # no fused multiply-add: timestamps must round exactly as the pure core's numpy arithmetic does
    flags = ["-ffp-contract=off"] if sys.platform != "win32" else []
    exts = [Extension(f"netwatch.{name}", [f"netwatch/{name.replace('.', '/')}.pyx"], extra_compile_args=flags)
            for name in ("flows._flow", "flows._core", "capture._records")]
    return cythonize(exts, compiler_directives={"language_level": "3"}, quiet=True)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})

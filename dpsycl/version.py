"""The version of dpsycl: one number, read by the package, its files' metadata and the CLI."""
from __future__ import annotations

__version__ = "0.2.0"


def installed_version() -> str:
    """The version pip recorded for the installed distribution (falls back to __version__)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("dpsycl")
    except PackageNotFoundError:
        return __version__

"""Build the deployable artifacts: the code package and the dependency layer.

    python -m devkit.build package          build/jobwatch-code.zip: handler/ at the zip root (index.py, jobwatch/)
    python -m devkit.build layer            build/jobwatch-deps.zip for SCF: CPython 3.10, manylinux2014 x86_64
    python -m devkit.build layer --local    the same for this interpreter and machine (the package test uses it)

SCF unpacks the code to /var/user and layers to /opt, both on PYTHONPATH, so packages sit at the layer's zip root.
The layer drops caches, console scripts and every botocore/boto3 service model but S3's (the store needs only S3).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
REQUIREMENTS = ROOT / "layers" / "deps" / "requirements.txt"
PLATFORM = ["--platform", "manylinux2014_x86_64", "--python-version", "3.10", "--implementation", "cp",
            "--abi", "cp310", "--only-binary=:all:"]  # fmt: skip
KEEP_SERVICES = {"s3"}
DROP_DIRS = {"__pycache__", "tests", "test", "bin"}
# Packages that must never reach the function: test and dev tools.
DEV_ONLY = ("pytest", "moto", "hypothesis", "mypy", "ruff", "rich", "qcloud_cos", "pytest_httpserver", "werkzeug")


def _zip(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())


def package(out: Path = BUILD / "jobwatch-code.zip") -> Path:
    """The code zip: handler/'s contents, without caches."""
    stage = BUILD / "code"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(ROOT / "handler", stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache"))
    _zip(stage, out)
    return out


def _prune(stage: Path) -> None:
    for path in sorted(stage.rglob("*"), reverse=True):
        if path.is_dir() and path.name in DROP_DIRS and path.parent.name != "data":
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in (".pyc", ".pyo"):
            path.unlink()
    for data in (stage / "botocore" / "data", stage / "boto3" / "data"):
        if data.is_dir():
            for service in data.iterdir():
                if service.is_dir() and service.name not in KEEP_SERVICES:
                    shutil.rmtree(service)


def layer(local: bool = False, out: Path = BUILD / "jobwatch-deps.zip") -> Path:
    """The dependency layer: pinned runtime requirements only, installed into the zip root."""
    stage = BUILD / ("layer-local" if local else "layer")
    shutil.rmtree(stage, ignore_errors=True)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
               "--target", str(stage), "-r", str(REQUIREMENTS)]  # fmt: skip
    if not local:
        command += PLATFORM
    subprocess.run(command, check=True)  # noqa: S603 (our own fixed pip command)
    _prune(stage)
    leaked = [name for name in DEV_ONLY if (stage / name).exists()]
    if leaked:
        raise SystemExit(f"dev-only packages in the layer: {leaked}")
    _zip(stage, out)
    return out


def describe(path: Path) -> str:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        unpacked = sum(i.file_size for i in archive.infolist())
    tops = sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")})
    return (f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.1f} MB zipped, {unpacked / 1e6:.1f} MB unpacked, "
            f"{len(names)} files\n  top level: {', '.join(tops)}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("what", choices=("package", "layer"))
    parser.add_argument("--local", action="store_true", help="layer: build for this interpreter, not SCF's")
    args = parser.parse_args(argv)
    built = package() if args.what == "package" else layer(local=args.local)
    print(describe(built))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Builds libEFTHFC, efthf's C interface, with the Swift toolchain and ships it in the package.

`pip install ./python` runs `swift build -c release --product EFTHFC` in the repository (the
directory above this one). Environment:
  EFTHF_LIBRARY=/path/libEFTHFC.so  use an already built library instead of building one
  EFTHF_BUILD_CONFIGURATION=debug   build (or reuse) the debug configuration
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        library = os.environ.get("EFTHF_LIBRARY")
        if library:
            source = Path(library)
        else:
            configuration = os.environ.get("EFTHF_BUILD_CONFIGURATION", "release")
            if not (REPOSITORY / "Package.swift").exists():
                raise SystemExit(f"efthf: {REPOSITORY} holds no Package.swift; build from the repository or set EFTHF_LIBRARY")
            if shutil.which("swift") is None:
                raise SystemExit("efthf: no `swift` on PATH; install the Swift 6 toolchain (swift.org) or set EFTHF_LIBRARY")
            print(f"efthf: swift build -c {configuration} --product EFTHFC (a first build takes several minutes)", flush=True)
            subprocess.run(["swift", "build", "-c", configuration, "--product", "EFTHFC"], cwd=REPOSITORY, check=True)
            source = REPOSITORY / ".build" / configuration / "libEFTHFC.so"
        if not source.exists():
            raise SystemExit(f"efthf: {source} does not exist")
        target = Path(self.build_lib) / "efthf" / "_lib"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / "libEFTHFC.so")


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)

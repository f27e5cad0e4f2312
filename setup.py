"""Packaging shim: the metadata lives in setup.cfg.

setuptools writes its ``*.egg-info`` scratch folder while it builds; it goes
to a temporary directory so that building leaves nothing in the checkout.
"""

import atexit
import shutil
import tempfile

from setuptools import setup
from setuptools.command.egg_info import egg_info


class EggInfoElsewhere(egg_info):
    def initialize_options(self) -> None:
        super().initialize_options()
        self.egg_base = tempfile.mkdtemp(prefix="bkstorages-egg-info-")
        atexit.register(shutil.rmtree, self.egg_base, True)


setup(cmdclass={"egg_info": EggInfoElsewhere})

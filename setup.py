"""Install cryo_disent from the metadata in settings.ini (no pkg_resources)."""
from configparser import ConfigParser
from pathlib import Path
from setuptools import find_packages, setup

cfg = ConfigParser(delimiters=["="])
cfg.read(Path(__file__).parent / "settings.ini")
c = cfg["DEFAULT"]
req = lambda key: c.get(key, "").split()

setup(
    name=c["lib_name"],
    version=c["version"],
    description=c["description"],
    long_description=(Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=c["author"],
    author_email=c["author_email"],
    license=c["license"],
    keywords=c["keywords"],
    python_requires=">=" + c["min_python"],
    packages=find_packages(include=[c["lib_name"], c["lib_name"] + ".*"]),
    package_data={c["lib_name"]: req("package_data")},
    include_package_data=True,
    install_requires=req("requirements"),
    extras_require={
        "structures": req("structures_requirements"),
        "umap": req("umap_requirements"),
        "notebooks": req("notebooks_requirements"),
        "soap": req("soap_requirements"),
        "cluster": req("cluster_requirements"),
        "dev": req("dev_requirements"),
    },
    entry_points={
        "console_scripts": req("console_scripts"),
        "nbdev": [f"{c['lib_name']}={c['lib_name']}._modidx:d"],
    },
    zip_safe=False,
)

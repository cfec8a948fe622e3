"""jobwatch: watches Tencent Cloud CI batch data-processing jobs from an SCF function."""

__version__ = "0.1.0"

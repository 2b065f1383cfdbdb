"""weightlib: get model weights onto a machine and into its page cache before serving."""

__version__ = "0.1.0"

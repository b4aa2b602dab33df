"""mlops-ci: Azure Machine Learning MLOps tasks for CI, with an embedded local workspace."""

__version__ = "0.1.0"

"""The Azure ML backend on SDK v2 (azure-ai-ml): the only package that imports azure.ai.ml, and only lazily."""

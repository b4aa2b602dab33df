"""The Azure ML backend on SDK v1 (azureml-core, azureml-pipeline-core): the only package that imports azureml."""

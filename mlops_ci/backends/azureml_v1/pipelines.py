"""Pipelines on Azure ML (the verbs land with the pipeline support)."""


class PipelineVerbs:
    pass

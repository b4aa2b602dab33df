"""Datasets on Azure ML (the verbs land with the register-dataset support)."""


class DatasetVerbs:
    pass

"""Web services on Azure ML: ACI and AKS deployments (the verbs land with the deployment support)."""


class ServiceVerbs:
    pass

"""The action's inputs and outputs, declared once: action.yml, the CLI flags and the input reader all come from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputSpec:
    name: str
    description: str
    default: str = ""
    secret: bool = False
    required: bool = False
    # The default written to action.yml when it is a workflow expression the CLI cannot evaluate.
    action_default: str = ""


@dataclass(frozen=True)
class OutputSpec:
    name: str
    description: str
    secret: bool = False


# Inputs every task reads (backend choice, workspace, credentials). Order is the order in action.yml.
COMMON_INPUTS: tuple[InputSpec, ...] = (
    InputSpec("task", "The task to run: register-model, register-dataset, and the other tasks listed in the README.",
              required=True),
    InputSpec("backend", "Where the task runs: `local` (the embedded local workspace) or `azureml`. "
              "When empty: `azureml` if Azure credentials are given, otherwise `local`."),
    InputSpec("azureml-sdk", "With backend `azureml`: `v1` (azureml-core: ACI/AKS web services, published "
              "pipelines) or `v2` (azure-ai-ml: managed and Kubernetes online endpoints, batch endpoints). The "
              "README's \"Azure ML SDK v2\" section maps each task.", default="v1"),
    InputSpec("workspace-dir", "Directory of the embedded local workspace.", default=".mlops-ci"),
    InputSpec("azure-credentials", "The JSON printed by `az ad sp create-for-rbac --json-auth` (or `--sdk-auth`).",
              secret=True),
    InputSpec("client-id", "Service principal (application) client id; with tenant-id and subscription-id instead "
              "of azure-credentials. Without client-secret, GitHub OIDC is used."),
    InputSpec("tenant-id", "Microsoft Entra tenant id, with client-id."),
    InputSpec("subscription-id", "Azure subscription id, with client-id."),
    InputSpec("client-secret", "Service principal secret, with client-id; leave empty to sign in with GitHub OIDC.",
              secret=True),
    InputSpec("audience", "GitHub OIDC: the audience of the token exchanged for an Azure token (the federated "
              "credential's audience).", default="api://AzureADTokenExchange"),
    InputSpec("workspace-name", "Azure ML workspace name (with resource-group)."),
    InputSpec("resource-group", "Resource group of the Azure ML workspace."),
    InputSpec("workspace-config", "Path to a config.json downloaded from Azure ML Studio, instead of "
              "workspace-name and resource-group."),
)

TASK_INPUTS: tuple[InputSpec, ...] = (
    # register-model
    InputSpec("model-path", "register-model: the model file or folder to register; several, one per line (or "
              "comma-separated), register several models in one step."),
    InputSpec("model-name", "register-model: the registered model's name; with several model-path entries, one name "
              "per entry in the same order (names must differ)."),
    InputSpec("model-description", "register-model: a description stored with the version."),
    InputSpec("model-tags", "register-model: tags, as a YAML/JSON mapping or `key=value` lines."),
    InputSpec("model-properties", "register-model: properties, as a YAML/JSON mapping or `key=value` lines."),
    InputSpec("model-framework", "register-model: the model framework (for example Onnx, ScikitLearn)."),
    InputSpec("force-new-version", "register-model: register a new version even when the content is identical "
              "to the latest version.", default="false"),
    # register-dataset
    InputSpec("dataset-path", "register-dataset: a local file or folder, or an http(s) URL (stored as a "
              "reference, never downloaded)."),
    InputSpec("dataset-name", "register-dataset: the registered dataset's name."),
    InputSpec("dataset-type", "register-dataset: `tabular` (CSV or Parquet with a header) or `file`.",
              default="tabular"),
    InputSpec("dataset-description", "register-dataset: a description stored with the version."),
    InputSpec("dataset-tags", "register-dataset: tags, as a YAML/JSON mapping or `key=value` lines."),
    # publish-pipeline, trigger-pipeline
    InputSpec("pipeline-yaml", "publish-pipeline: an Azure ML v1 pipeline YAML (the `Pipeline.load_yaml` format) "
              "whose PythonScriptStep steps are published, paths in it relative to the working directory; or, "
              "with azureml-sdk v2, a v2 pipeline job YAML (paths relative to the file)."),
    InputSpec("run-id", "publish-pipeline: publish the pipeline of this earlier pipeline run instead of "
              "pipeline-yaml (with experiment-name)."),
    InputSpec("experiment-name", "publish-pipeline: the experiment of run-id. trigger-pipeline: the experiment the "
              "new run is filed under."),
    InputSpec("pipeline-name", "publish-pipeline: the published pipeline's name."),
    InputSpec("pipeline-description", "publish-pipeline: its description (default: the YAML's description)."),
    InputSpec("pipeline-version", "publish-pipeline: a version label (default: the next number for that name or "
              "endpoint). trigger-pipeline: with endpoint-name or an endpoint URL, the endpoint version to run "
              "(default: the endpoint's default version)."),
    InputSpec("endpoint-name", "publish-pipeline: a stable pipeline endpoint whose default version becomes the new "
              "pipeline (older versions stay addressable). trigger-pipeline: run that endpoint's pipeline."),
    InputSpec("pipeline-endpoint", "trigger-pipeline: the REST URL to POST to (the pipeline-endpoint output of "
              "publish-pipeline), called as any HTTP client would."),
    InputSpec("pipeline-id", "trigger-pipeline: the published pipeline's id, instead of pipeline-endpoint."),
    InputSpec("pipeline-parameters", "trigger-pipeline: pipeline parameter values, as a YAML/JSON mapping or "
              "`key=value` lines."),
    InputSpec("wait", "trigger-pipeline: follow the run until it ends (within timeout-minutes), show each step's "
              "log, and fail when the run fails.", default="true"),
    InputSpec("max-parallel-steps", "trigger-pipeline (local backend, with pipeline-id or endpoint-name): how many "
              "independent steps run at once (default: the number of cores)."),
    # deploy-aci, promote-aks, smoke-test, get-logs, delete-service
    InputSpec("model", "deploy-aci, promote-aks: the models to deploy, each `name:version` or `name` (the latest), "
              "comma- or newline-separated."),
    InputSpec("service-name", "deploy-aci, promote-aks, smoke-test, get-logs, delete-service: the web service's name."),
    InputSpec("inference-config", "deploy-aci, promote-aks: an Azure ML CLI v1 inferenceconfig.json or .yml "
              "(entryScript, sourceDirectory, environment)."),
    InputSpec("deployment-config", "deploy-aci, promote-aks: an Azure ML CLI v1 deploymentconfig.json or .yml "
              "(computeType, containerResourceRequirements, authEnabled, tokenAuthEnabled, autoScaler, numReplicas, "
              "...). Empty: one replica with key auth."),
    InputSpec("sample-request", "deploy-aci, promote-aks, smoke-test: a JSON file posted to the service as the "
              "smoke test (and given to run() by the preflight)."),
    InputSpec("expected-response", "deploy-aci, promote-aks, smoke-test: a JSON file the response must equal."),
    InputSpec("aks-cluster", "promote-aks: the cluster to deploy to: an AKS inference cluster (azureml-sdk v1) or an "
              "attached Kubernetes compute (v2); it must exist and be of that kind, else the step fails listing "
              "those found. When the deployment config also names one (computeTargetName), both must agree. The "
              "local backend records it with the service (it serves on the runner)."),
    InputSpec("source-service", "promote-aks: promote exactly the models and inference configuration of this "
              "service (typically the tested ACI one) instead of model and inference-config."),
    InputSpec("timeout-minutes", "deploy-aci, promote-aks, smoke-test, delete-service, trigger-pipeline (with "
              "wait): the longest the task waits. On Azure it also bounds every retry of every task's calls.",
              default="10"),
    InputSpec("instance-type", "deploy-aci, promote-aks with azureml-sdk v2: the VM size of a managed online "
              "deployment (deploy-aci; empty: chosen from the deployment config's cpu and memoryInGB, "
              "Standard_DS3_v2 at least) or the instance type of a Kubernetes one (promote-aks; empty: the "
              "cluster's default)."),
    InputSpec("scoring-uri", "smoke-test: the URI to POST to; empty: the scoring URI of service-name."),
    InputSpec("scoring-key", "smoke-test: the key or token sent as `Authorization: Bearer`; empty with "
              "service-name: looked up.", secret=True),
    InputSpec("requests-count", "smoke-test: how many requests to send for the latency figures.", default="10"),
    InputSpec("tail", "get-logs: how many of the last log lines to show in the log (the file has them all).",
              default="100"),
)

# The GitHub integration: the pull-request comment and Deployments (only in Actions).
GITHUB_INPUTS: tuple[InputSpec, ...] = (
    InputSpec("github-token", "Token for the pull-request comment and the Deployments (needs `pull-requests: write` "
              "and `deployments: write`); the workflow's token by default.", secret=True,
              action_default="${{ github.token }}"),
    InputSpec("pr-comment", "On pull_request events, keep one comment per workflow and service (or model, or "
              "pipeline) up to date with the results.", default="true"),
    InputSpec("github-deployment", "deploy-aci, promote-aks: record a GitHub Deployment with statuses and the "
              "scoring URI as the environment URL.", default="true"),
    InputSpec("environment", "deploy-aci, promote-aks: the GitHub environment of the Deployment; empty: `test` for "
              "deploy-aci, `production` for promote-aks."),
)

OUTPUTS: tuple[OutputSpec, ...] = (
    OutputSpec("backend", "The backend that ran the task (`local` or `azureml`)."),
    OutputSpec("model-name", "register-model: the model's name (several models: comma-separated, in the order of "
               "model-path, as the other model-* outputs)."),
    OutputSpec("model-version", "register-model: the version registered or reused."),
    OutputSpec("model-id", "register-model: `name:version`."),
    OutputSpec("model-sha256", "register-model: sha256 of the model content (of the file, or of the folder's "
               "sorted `sha256  path` listing)."),
    OutputSpec("model-reused", "register-model: `true` when identical content was already the latest version."),
    OutputSpec("dataset-name", "register-dataset: the dataset's name."),
    OutputSpec("dataset-version", "register-dataset: the version registered or reused."),
    OutputSpec("dataset-id", "register-dataset: `name:version`."),
    OutputSpec("dataset-reused", "register-dataset: `true` when the content (or the URL) was unchanged."),
    OutputSpec("pipeline-id", "publish-pipeline: the published pipeline's id."),
    OutputSpec("pipeline-endpoint", "publish-pipeline: the REST URL that triggers it (the endpoint's URL when "
               "endpoint-name is set): POST with `Authorization: Bearer` and `{\"ExperimentName\": ...}`."),
    OutputSpec("pipeline-version", "publish-pipeline: the version label of the published pipeline."),
    OutputSpec("endpoint-name", "publish-pipeline: the pipeline endpoint's name (empty without endpoint-name)."),
    OutputSpec("run-id", "trigger-pipeline: the pipeline run's id (written even when the wait times out)."),
    OutputSpec("run-url", "trigger-pipeline: where the run's status and steps can be read."),
    OutputSpec("run-status", "trigger-pipeline: the run's status when the task ended (NotStarted, Running, "
               "Completed, Failed or Canceled)."),
    OutputSpec("service-name", "deploy-aci, promote-aks: the web service's name."),
    OutputSpec("scoring-uri", "deploy-aci, promote-aks: the URI to POST scoring requests to."),
    OutputSpec("swagger-uri", "deploy-aci, promote-aks: the URI of the service's swagger.json."),
    OutputSpec("service-state", "deploy-aci, promote-aks: the state of the service (Healthy when it succeeded)."),
    OutputSpec("model-ids", "register-model: every model registered or reused, `name:version`, comma-separated in "
               "the order of model-path (ready for deploy-aci's `model`). deploy-aci, promote-aks: the deployed "
               "models, comma-separated."),
    OutputSpec("scoring-key", "deploy-aci, promote-aks: the credential for `Authorization: Bearer` (the primary key, "
               "or a token with token auth), masked.", secret=True),
    OutputSpec("previous-model-ids", "promote-aks: the models the service ran before (empty for a new service)."),
    OutputSpec("rolled-back", "promote-aks: `true` when the new version failed and the previous one kept serving."),
    OutputSpec("status-code", "smoke-test: the HTTP status of the last response."),
    OutputSpec("response", "smoke-test: the last response body (truncated)."),
    OutputSpec("latency-p50-ms", "smoke-test: median latency over requests-count requests, in milliseconds."),
    OutputSpec("latency-p95-ms", "smoke-test: 95th-percentile latency, in milliseconds."),
    OutputSpec("logs-path", "get-logs: the file the service's logs were written to."),
    OutputSpec("deleted", "delete-service: `true` when a service was deleted, `false` when it did not exist."),
)


def all_inputs() -> tuple[InputSpec, ...]:
    return COMMON_INPUTS + TASK_INPUTS + GITHUB_INPUTS


INPUTS_BY_NAME: dict[str, InputSpec] = {spec.name: spec for spec in all_inputs()}
SECRET_INPUTS: frozenset[str] = frozenset(spec.name for spec in all_inputs() if spec.secret)
SECRET_OUTPUTS: frozenset[str] = frozenset(spec.name for spec in OUTPUTS if spec.secret)

"""The task table: task name → its module, imported only when that task runs."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlops_ci.errors import InputError

TASKS: dict[str, str] = {
    "register-model": "mlops_ci.tasks.register_model",
    "register-dataset": "mlops_ci.tasks.register_dataset",
    "publish-pipeline": "mlops_ci.tasks.publish_pipeline",
    "trigger-pipeline": "mlops_ci.tasks.trigger_pipeline",
    "deploy-aci": "mlops_ci.tasks.deploy_aci",
    "promote-aks": "mlops_ci.tasks.promote_aks",
    "smoke-test": "mlops_ci.tasks.smoke_test",
    "get-logs": "mlops_ci.tasks.get_logs",
    "delete-service": "mlops_ci.tasks.delete_service",
}


def load_task(name: str) -> ModuleType:
    module_name = TASKS.get(name)
    if module_name is None:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise InputError("task", f"Input 'task' is '{shown}', which is not a task of mlops-ci.",
                         fix="Use one of: " + ", ".join(sorted(TASKS)) + ".")
    return importlib.import_module(module_name)

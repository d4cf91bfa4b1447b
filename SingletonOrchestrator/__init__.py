"""SingletonOrchestrator: the sample eternal background job (see sample_job.job)."""

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

from sample_job.job import run_job


def orchestrator_function(
    context: df.DurableOrchestrationContext,
) -> Generator[TaskBase, Any, dict[str, Any] | None]:
    """Hand the orchestration to the job core, which owns every decision."""
    return (yield from run_job(context))


main = df.Orchestrator.create(orchestrator_function)

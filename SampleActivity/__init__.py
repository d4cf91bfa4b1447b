"""SampleActivity: one work item of the sample background job (see sample_job.job).

Annotations stay plain `dict`: the Functions worker reads them at load time to pick a converter.
"""

from sample_job.job import run_work_item


# The worker refuses `dict[str, Any]` as a return annotation (it is not a type at run time).
def main(payload: dict) -> dict:  # type: ignore[type-arg]
    """Do one item's work; raising lets the orchestrator's retry policy decide what happens."""
    return run_work_item(payload)

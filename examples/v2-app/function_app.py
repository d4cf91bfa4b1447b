"""A decorator-model ("v2") app that uses the singleton start: the five routes come from one Blueprint."""

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from singleton_start import singleton_start_blueprint

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
# POST/GET api/orchestrators/{functionName}/{instanceId}, .../terminate, .../events/{eventName} and
# .../signal/{eventName}; the orchestrators they may address are listed in SINGLETON_ORCHESTRATORS, each checked
# against this app's own orchestrators when the worker indexes the app.
blueprint = singleton_start_blueprint(app=app)
app.register_functions(blueprint)


@app.orchestration_trigger(context_name="context")
def SingletonOrchestrator(context: df.DurableOrchestrationContext) -> Any:
    """The sample job: one work item, then wait for the Stop event and return what it carried."""
    item = yield context.call_activity("SampleActivity", context.get_input())
    stop = yield context.wait_for_external_event("Stop")
    return {"item": item, "stop": stop}


@app.activity_trigger(input_name="payload")
def SampleActivity(payload: Any) -> Any:
    """One work item: echo the input back, as a real job would return its result."""
    return {"done": payload}

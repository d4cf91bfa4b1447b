"""Start a Durable Functions orchestrator as exactly one instance per instance ID."""

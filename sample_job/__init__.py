"""The sample background job that SingletonOrchestrator runs; replace it with your own."""

"""The pure core: statuses, decisions, outcomes, errors, the ports, and the answer classifications of both SDK
lines. It imports no SDK, no aiohttp and no azure.* (tests/test_layers.py holds it to that)."""

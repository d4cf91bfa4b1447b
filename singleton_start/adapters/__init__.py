"""The ports made real: the Durable extension over HTTP (1.x) and gRPC (2.x), the blob lease, the clock."""

"""The use cases over the ports: holding an instance ID, the start, terminate and signal."""

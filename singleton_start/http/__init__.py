"""The HTTP side: the contract, the one adapter every route runs behind, the routes, the decorator-model Blueprint."""

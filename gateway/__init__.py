"""Composition root: FastAPI app, REST routers, GraphQL schema, auth dependencies and the `cpip` CLI."""

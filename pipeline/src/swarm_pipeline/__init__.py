"""Swarm Showcase's CI/CD pipeline as a Dagger module (main object: main.SwarmPipeline).

Nothing is imported here, so the Dagger-free modules (decisions, keys, manifests) load
without the SDK.
"""

"""Swarm Showcase's CI/CD pipeline as a Dagger module."""

from .main import SwarmPipeline as SwarmPipeline

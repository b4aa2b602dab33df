"""The embedded local workspace: registries, scoring endpoints and pipelines on disk, no cloud."""

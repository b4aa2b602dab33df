"""Loopback fakes of the services mlops-ci talks to, driven by the real client libraries in tests."""

"""Shared pytest configuration for the test suite."""

pytest_plugins = ["tests.azure_emulator.pytest_plugin", "tests.harness", "tests.github_support",
                  "tests.deploy_fixtures"]

"""Fake pipelines service: modules, graphs, published pipelines, runs and endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .http import Router

if TYPE_CHECKING:
    from .emulator import AzureEmulator


def build(emulator: "AzureEmulator") -> Router:
    return Router()

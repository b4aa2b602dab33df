"""A loopback emulator of the Azure services the Azure ML SDK v1 talks to, for tests that must stay offline."""

from .ca import CertificateAuthority
from .emulator import FAULT_KINDS, AzureEmulator, RequestRecord

__all__ = ["FAULT_KINDS", AzureEmulator, "CertificateAuthority", "RequestRecord"]

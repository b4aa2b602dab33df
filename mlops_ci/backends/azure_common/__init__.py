"""What both Azure ML backends (SDK v1 and v2) share and neither SDK is needed for: retries, HTTP facts, digests."""

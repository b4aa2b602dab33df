"""Commands for people at a terminal: browsing the local workspace, the demo and the servers."""

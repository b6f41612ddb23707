"""Project tooling run by hand (make targets), never imported by the service."""

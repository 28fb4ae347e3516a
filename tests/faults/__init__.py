"""Fault tests: real faults injected into real processes, then counting what got through."""

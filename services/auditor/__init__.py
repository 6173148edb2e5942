"""The auditor: persists every store event and keeps the stores projection."""

"""The staff console: accounts, login sessions and the HTTP API behind /console."""

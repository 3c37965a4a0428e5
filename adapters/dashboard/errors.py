"""The dashboard's errors."""


class DashboardError(Exception):
    """The dashboard cannot start (a bad or busy address, no credentials for the feed)."""

"""Client and ``keepwarm`` console command for the keepwarm API (batch jobs, scripts)."""
from keepwarm_client.client import KeepwarmClient, KeepwarmError, LeaseTimeout

__all__ = ["KeepwarmClient", "KeepwarmError", "LeaseTimeout"]
__version__ = "0.1.0"

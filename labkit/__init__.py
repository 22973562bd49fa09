"""labkit: the helper package of the Model Monitoring Lab."""
from labkit import _offline

_offline.apply()

__version__ = "0.1.0"

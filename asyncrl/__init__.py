"""asyncrl: the four asynchronous deep-RL methods of Mnih et al. (2016) on one runtime."""

__version__ = "0.1.0"

"""buypower-tui: pay prepaid electricity for many meters at once through BuyPower."""

__version__ = "0.1.0"
APP_NAME = "buypower-tui"

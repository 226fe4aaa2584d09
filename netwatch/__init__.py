"""netwatch: inspect point-of-sale network traffic for card data and protection gaps."""

__version__ = "0.1.0"

"""The platform's Django apps, one per area of the product."""

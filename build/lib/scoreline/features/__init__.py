"""Point-in-time features: market-implied probabilities, ratings, form."""

"""Last year's churners: which signals preceded churn, how often and how early."""

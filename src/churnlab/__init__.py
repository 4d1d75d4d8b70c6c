"""churnlab: find and save B2B SaaS customers who are about to churn."""

__version__ = "0.1.0"

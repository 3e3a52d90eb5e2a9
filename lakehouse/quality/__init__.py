"""Data quality as code: expectations declared next to the asset."""

from lakehouse.quality.expectations import Action, Expectation, ExpectationFailure, ExpectationSet, Outcome

__all__ = ["Action", "Expectation", "ExpectationFailure", "ExpectationSet", "Outcome"]

"""Explanations: SHAP contributions, family weights and sentences a CSM can act on."""

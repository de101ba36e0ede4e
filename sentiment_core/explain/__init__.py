"""Explanations: Captum attribution methods, word alignment, rendering, file exports, faithfulness."""
